//! snow's crypto resolver with our static key's public half already known.
//!
//! snow derives the public key from the private one whenever a handshake is built
//! with `local_private_key`: one X25519 base-point multiplication per connection on
//! each side for a key that never changes. This resolver hands snow an X25519
//! implementation (curve25519-dalek, the same calls snow's own makes) that returns
//! the known public half for our static key and derives it otherwise. Hashes and
//! ciphers come from snow's ring resolver, falling back to its default one, as
//! `snow::Builder::new` does.

use curve25519_dalek::montgomery::MontgomeryPoint;
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroize as _;

/// Resolves like `snow::Builder::new`, with `known` as a precomputed X25519 pair.
pub(crate) struct Resolver {
    /// (private, public) of our static key.
    known: Option<([u8; 32], [u8; 32])>,
}

impl Resolver {
    pub(crate) fn new(known: Option<([u8; 32], [u8; 32])>) -> Self {
        Self { known }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        if let Some((private, _)) = self.known.as_mut() {
            private.zeroize();
        }
    }
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        DefaultResolver.resolve_rng()
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(X25519 { private: [0; 32], public: [0; 32], known: self.known })),
            _ => DefaultResolver.resolve_dh(choice),
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        RingResolver.resolve_hash(choice).or_else(|| DefaultResolver.resolve_hash(choice))
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        RingResolver.resolve_cipher(choice).or_else(|| DefaultResolver.resolve_cipher(choice))
    }
}

/// X25519 on curve25519-dalek (as snow's default), with a known pair.
struct X25519 {
    private: [u8; 32],
    public: [u8; 32],
    known: Option<([u8; 32], [u8; 32])>,
}

impl Drop for X25519 {
    fn drop(&mut self) {
        self.private.zeroize();
        if let Some((private, _)) = self.known.as_mut() {
            private.zeroize();
        }
    }
}

impl X25519 {
    fn derive_public(&mut self) {
        self.public = match self.known {
            Some((private, public)) if private == self.private => public,
            _ => MontgomeryPoint::mul_base_clamped(self.private).to_bytes(),
        };
    }
}

impl Dh for X25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, privkey: &[u8]) {
        // snow passes priv_len() bytes; anything else leaves the rest zero.
        let n = privkey.len().min(32);
        self.private = [0; 32];
        self.private[..n].copy_from_slice(&privkey[..n]);
        self.derive_public();
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(&mut self.private)?;
        // A fresh key is never the known one: derive it.
        self.public = MontgomeryPoint::mul_base_clamped(self.private).to_bytes();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.private
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let theirs: [u8; 32] = pubkey.get(..32).and_then(|p| p.try_into().ok()).ok_or(snow::Error::Dh)?;
        let shared = MontgomeryPoint(theirs).mul_clamped(self.private).to_bytes();
        out.get_mut(..32).ok_or(snow::Error::Dh)?.copy_from_slice(&shared);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our X25519 agrees with snow's default one, known pair or not.
    #[test]
    fn agrees_with_snow() {
        let params: snow::params::NoiseParams = crate::PROTOCOL_NAME.parse().unwrap();
        let a = snow::Builder::new(params.clone()).generate_keypair().unwrap();
        let b = snow::Builder::new(params).generate_keypair().unwrap();
        let pair = |k: &snow::Keypair| -> ([u8; 32], [u8; 32]) { (k.private[..].try_into().unwrap(), k.public[..].try_into().unwrap()) };
        for known in [None, Some(pair(&a)), Some(pair(&b))] {
            let mut ours = Resolver::new(known).resolve_dh(&DHChoice::Curve25519).unwrap();
            ours.set(&a.private);
            assert_eq!(ours.pubkey(), &a.public[..]);
            let mut out = [0u8; 32];
            ours.dh(&b.public, &mut out).unwrap();
            let mut theirs = DefaultResolver.resolve_dh(&DHChoice::Curve25519).unwrap();
            theirs.set(&b.private);
            let mut expected = [0u8; 32];
            theirs.dh(&a.public, &mut expected).unwrap();
            assert_eq!(out, expected);
        }
        let dh = Resolver::new(None).resolve_dh(&DHChoice::Curve25519).unwrap();
        assert!(dh.dh(&[0u8; 31], &mut [0u8; 32]).is_err());
    }
}
