//! `Noise_IK_Ed25519_ChaChaPoly_BLAKE2b` and `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` exactly
//! as noise-handshake 4.2 with noise-curve-ed 2.1 run them: Ed25519 keys for DH,
//! BLAKE2b-512 hash, HKDF over HMAC-BLAKE2b, ChaCha20-Poly1305 (IETF).
//!
//! Sans-IO: feed whole messages in, take whole messages out. Framing is the caller's
//! (secret-stream puts a uint24 LE length in front; hyperdht carries the messages in DHT
//! requests). Vectors and layouts: `specs/secret-stream.md`.

mod dh;
mod handshake;
mod symmetric;
#[cfg(test)]
mod tests;

#[cfg(test)]
pub(crate) fn dh_for_tests(seed: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    *dh::dh(seed, public).unwrap()
}

pub use handshake::{Handshake, HandshakeResult, MAX_MESSAGE_LEN, Pattern};
