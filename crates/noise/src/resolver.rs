//! snow's crypto resolver: X25519 from aws-lc-rs, with our static key's public half
//! already known.
//!
//! A Noise XX handshake costs each side three X25519 agreements and one key
//! generation. snow's default X25519 is curve25519-dalek's Montgomery ladder; aws-lc's
//! (s2n-bignum, BMI2/ADX) took 0.41× its time per agreement here (30 against 67 µs)
//! and 0.4× per key (12 against 29 µs), the largest part of a connection's set-up CPU.
//! ring's X25519 cannot serve: its private keys agree once, and each side's ephemeral
//! key is used twice. aws-lc rejects a peer key whose agreement is all zero (a
//! low-order point), as RFC 7748 § 6.1 allows; such a handshake fails with
//! `snow::Error::Dh`.
//!
//! snow derives the public key from the private one whenever a handshake is built
//! with `local_private_key`: this resolver hands it our static key loaded once per
//! node (its public half known) instead. Hashes and ciphers come from snow's ring
//! resolver, falling back to its default one, as `snow::Builder::new` does.

use std::sync::Arc;

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, RingResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroize as _;

/// Our static X25519 key, loaded once: its private and public halves and the aws-lc
/// key (loading computes the public half, a base-point multiplication).
#[derive(Clone)]
pub(crate) struct Known {
    private: [u8; 32],
    public: [u8; 32],
    key: Arc<PrivateKey>,
}

impl Known {
    /// `None` if aws-lc refuses the bytes (it takes any 32).
    pub(crate) fn new(private: [u8; 32], public: [u8; 32]) -> Option<Self> {
        let key = PrivateKey::from_private_key(&agreement::X25519, &private).ok()?;
        Some(Self { private, public, key: Arc::new(key) })
    }
}

impl Drop for Known {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

/// Resolves like `snow::Builder::new`, with `known` as our loaded static key.
pub(crate) struct Resolver {
    known: Option<Known>,
}

impl Resolver {
    pub(crate) fn new(known: Option<Known>) -> Self {
        Self { known }
    }
}

impl CryptoResolver for Resolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        DefaultResolver.resolve_rng()
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::new(X25519 { private: [0; 32], public: [0; 32], key: None, known: self.known.clone() })),
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

/// X25519 on aws-lc, with our static key already loaded.
struct X25519 {
    private: [u8; 32],
    public: [u8; 32],
    key: Option<Arc<PrivateKey>>,
    known: Option<Known>,
}

impl Drop for X25519 {
    fn drop(&mut self) {
        self.private.zeroize();
    }
}

impl X25519 {
    /// Loads `self.private` into aws-lc and sets the public half; our static key comes
    /// loaded. aws-lc computes the public half on loading; it takes any 32 bytes
    /// (clamping happens in each multiplication, as RFC 7748 says).
    fn load(&mut self, may_be_known: bool) {
        if let Some(k) = self.known.as_ref().filter(|k| may_be_known && k.private == self.private) {
            self.key = Some(k.key.clone());
            self.public = k.public;
            return;
        }
        self.key = PrivateKey::from_private_key(&agreement::X25519, &self.private).ok().map(Arc::new);
        self.public = match self.key.as_deref().map(PrivateKey::compute_public_key) {
            Some(Ok(p)) => p.as_ref().try_into().unwrap_or([0; 32]),
            _ => [0; 32],
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
        self.load(true);
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(&mut self.private)?;
        // A fresh key is never the known one: derive it.
        self.load(false);
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    fn privkey(&self) -> &[u8] {
        &self.private
    }

    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let key = self.key.as_ref().ok_or(snow::Error::Dh)?;
        let theirs = pubkey.get(..32).ok_or(snow::Error::Dh)?;
        let out = out.get_mut(..32).ok_or(snow::Error::Dh)?;
        agreement::agree(key, UnparsedPublicKey::new(&agreement::X25519, theirs), snow::Error::Dh, |shared| {
            out.copy_from_slice(shared.get(..32).ok_or(snow::Error::Dh)?);
            Ok(())
        })
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
        let pair = |k: &snow::Keypair| Known::new(k.private[..].try_into().unwrap(), k.public[..].try_into().unwrap());
        for known in [None, pair(&a), pair(&b)] {
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
        assert!(dh.dh(&a.public, &mut [0u8; 32]).is_err(), "no key set");
        let mut dh = Resolver::new(None).resolve_dh(&DHChoice::Curve25519).unwrap();
        dh.set(&a.private);
        assert!(dh.dh(&[0u8; 31], &mut [0u8; 32]).is_err());
        // A low-order point (here the all-zero one) is refused, not agreed to zeros.
        assert!(dh.dh(&[0u8; 32], &mut [0u8; 32]).is_err());
    }

    /// RFC 7748 § 6.1's test vector, through snow's `Dh` interface.
    #[test]
    fn rfc7748_vector() {
        let hex = |s: &str| -> Vec<u8> { (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect() };
        let alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob_public = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let mut dh = Resolver::new(None).resolve_dh(&DHChoice::Curve25519).unwrap();
        dh.set(&alice);
        assert_eq!(dh.pubkey(), &hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")[..]);
        let mut shared = [0u8; 32];
        dh.dh(&bob_public, &mut shared).unwrap();
        assert_eq!(&shared[..], &hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")[..]);
    }
}
