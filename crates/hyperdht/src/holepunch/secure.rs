//! The holepunch payload's encryption (`secure-payload.js`): `nonce(24) ||
//! crypto_secretbox_easy(holepunchPayload)` (XSalsa20-Poly1305, MAC first) keyed with the
//! holepunch secret, and the punch tokens `BLAKE2b-256_{localSecret}(host)`.

use blake2::Blake2bMac;
use blake2::digest::{Mac, consts::U32};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};

use crate::wire::handshake::HolepunchPayload;
use crate::wire::ns::NS_PEER_HOLEPUNCH;

/// `BLAKE2b-256(NS_PEER_HOLEPUNCH, key = handshake hash)`: both ends derive it from Noise.
pub fn holepunch_secret(handshake_hash: &[u8; 64]) -> [u8; 32] {
    keyed(handshake_hash, &NS_PEER_HOLEPUNCH)
}

fn keyed(key: &[u8], data: &[u8]) -> [u8; 32] {
    match <Blake2bMac<U32> as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().into()
        }
        // keys of 1..=64 bytes never fail; an all-zero output is never a valid secret
        Err(_) => [0; 32],
    }
}

/// One session's payload box and token secret.
pub struct SecurePayload {
    cipher: XSalsa20Poly1305,
    local_secret: [u8; 32],
}

impl std::fmt::Debug for SecurePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecurePayload")
    }
}

impl SecurePayload {
    /// A box keyed with `secret` and a fresh random token secret.
    pub fn new(secret: &[u8; 32]) -> Self {
        let mut local_secret = [0u8; 32];
        // without randomness the tokens are still unforgeable per session key: mix the secret in
        if getrandom::fill(&mut local_secret).is_err() {
            local_secret = keyed(secret, b"rhizome holepunch token");
        }
        Self { cipher: XSalsa20Poly1305::new(&Key::from(*secret)), local_secret }
    }

    /// Seals a payload with a random nonce.
    pub fn encrypt(&self, payload: &HolepunchPayload) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        let _ = getrandom::fill(&mut nonce);
        self.encrypt_with_nonce(payload, nonce)
    }

    /// Seals a payload with `nonce` (vectors; on the wire the nonce is random).
    pub fn encrypt_with_nonce(&self, payload: &HolepunchPayload, nonce: [u8; 24]) -> Vec<u8> {
        let plain = payload.encode();
        let mut out = nonce.to_vec();
        // encrypting a Vec into memory cannot fail
        if let Ok(c) = self.cipher.encrypt(&Nonce::from(nonce), plain.as_slice()) {
            out.extend_from_slice(&c);
        }
        out
    }

    /// Opens a payload; None when it is short, forged or undecodable (Node drops those).
    pub fn decrypt(&self, sealed: &[u8]) -> Option<HolepunchPayload> {
        if sealed.len() <= 24 + 16 {
            return None;
        }
        let (nonce, c) = sealed.split_at(24);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), c).ok()?;
        HolepunchPayload::decode(&plain).ok()
    }

    /// The token proving we saw `host` (its dotted string, as Node hashes it).
    pub fn token(&self, host: &std::net::Ipv4Addr) -> [u8; 32] {
        keyed(&self.local_secret, host.to_string().as_bytes())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_forgery() {
        let secret = holepunch_secret(&[7; 64]);
        let (a, b) = (SecurePayload::new(&secret), SecurePayload::new(&secret));
        let p = HolepunchPayload { firewall: 2, round: 1, punching: true, token: Some([9; 32]), ..Default::default() };
        let sealed = a.encrypt(&p);
        assert_eq!(sealed.len(), 24 + 16 + p.encode().len());
        assert_eq!(b.decrypt(&sealed), Some(p));
        let mut bad = sealed.clone();
        bad[30] ^= 1;
        assert_eq!(b.decrypt(&bad), None);
        assert_eq!(b.decrypt(&sealed[..40]), None);
        assert_eq!(SecurePayload::new(&holepunch_secret(&[8; 64])).decrypt(&sealed), None);
        let h = std::net::Ipv4Addr::new(198, 18, 0, 11);
        assert_eq!(a.token(&h), a.token(&h));
        assert_ne!(a.token(&h), b.token(&h), "token secrets are per side");
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Captured from Node (sodium-universal + hyperdht 6.34 messages): handshake hash 64×0x05,
    /// nonce 24×0x09, payload {firewall 2, round 1, punching, addresses [198.18.0.11:40000],
    /// token 32×0x01}.
    #[test]
    fn node_vector() {
        let secret = holepunch_secret(&[5; 64]);
        assert_eq!(secret.to_vec(), unhex("62603d4752897c6a051e2dc079b1a55941878563cc04c07f3b031c80bb274730"));
        let p = HolepunchPayload {
            firewall: 2,
            round: 1,
            punching: true,
            addresses: Some(vec!["198.18.0.11:40000".parse().unwrap()]),
            token: Some([1; 32]),
            ..Default::default()
        };
        assert_eq!(p.encode(), unhex("1600020101c612000b409c0101010101010101010101010101010101010101010101010101010101010101"));
        let sealed = unhex(concat!(
            "090909090909090909090909090909090909090909090909ae7c1715fd4a88ac62e46433c2d32fe3d369ed7d",
            "becdc9ca1447856456f1578a92f27215bab7e81ad4665f823837b49093b42ebd873637406d8db8"
        ));
        let sp = SecurePayload::new(&secret);
        assert_eq!(sp.encrypt_with_nonce(&p, [9; 24]), sealed);
        assert_eq!(sp.decrypt(&sealed), Some(p));
    }
}
