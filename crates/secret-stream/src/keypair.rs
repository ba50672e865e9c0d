//! The Ed25519 key pair that is both a Hyperswarm identity and its Noise static key.

use ed25519_dalek::{Signer, SigningKey};
use rand_core_06::{OsRng, RngCore};
use zeroize::Zeroizing;

/// An Ed25519 key pair as libsodium's `crypto_sign_seed_keypair` makes it (and as
/// hyperdht's `keyPair(seed)` and secret-stream's `keyPair(seed)` do).
///
/// Used for Noise DH the way noise-curve-ed does: the scalar is the clamped first half of
/// `SHA-512(seed)` and the public key is the compressed Edwards point.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A fresh random key pair (the OS RNG).
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// The key pair of a 32-byte seed (`crypto_sign_seed_keypair`).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self { signing: SigningKey::from_bytes(seed) }
    }

    /// Wraps an ed25519-dalek signing key (for example a node's identity key).
    pub fn from_signing_key(signing: SigningKey) -> Self {
        Self { signing }
    }

    /// The 32-byte public key (compressed Edwards point).
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// A detached Ed25519 signature of `message` (libsodium `crypto_sign_detached`; used
    /// for hyperdht's announce and mutable-put signatures).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    /// The 32-byte seed (libsodium's secret key is `seed || public_key`).
    pub(crate) fn seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair").field("public_key", &crate::error::KeyHex(self.public_key())).finish_non_exhaustive()
    }
}
