//! Our helpers on libp2p-identity's [`Keypair`] and [`PublicKey`]: keys from a seed or
//! from the operating system, key files, and the raw Ed25519 bytes Hyperswarm needs.

use std::path::Path;

use libp2p_identity::{DecodingError, Keypair, PeerId, PublicKey, ed25519};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{KeyFileError, RandomnessError};
use crate::keyfile;

/// Rhizome's constructors and helpers for a libp2p-identity [`Keypair`].
///
/// Bring it into scope (`use rhizome_identity::KeypairExt as _;`) to call
/// `Keypair::from_seed`, `Keypair::generate`, `Keypair::load`, `kp.peer_id()` and the rest.
pub trait KeypairExt: Sized {
    /// The Ed25519 keypair whose 32-byte secret (RFC 8032 seed) is `seed`.
    ///
    /// `Keypair::from_seed([1; 32]).peer_id()` is
    /// `12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5`.
    fn from_seed(seed: [u8; 32]) -> Self;

    /// A fresh Ed25519 keypair from the operating system's randomness.
    fn generate() -> Result<Self, RandomnessError>;

    /// This key's peer id.
    fn peer_id(&self) -> PeerId;

    /// The 32-byte Ed25519 secret (seed), or `None` for another key type.
    fn ed25519_seed(&self) -> Option<Zeroizing<[u8; 32]>>;

    /// The 32 raw bytes of the Ed25519 public key, or `None` for another key type.
    fn ed25519_public(&self) -> Option<[u8; 32]>;

    /// Loads a key file written by [`KeypairExt::save`] (a libp2p `PrivateKey`
    /// protobuf; any key type libp2p-identity decodes).
    fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError>;

    /// Writes the libp2p `PrivateKey` protobuf, replacing the file atomically. A new
    /// file has permissions 0600 on Unix. RSA keys cannot be saved (libp2p-identity
    /// does not encode them): [`KeyFileError::Encode`].
    fn save(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError>;

    /// Loads the key at `path`, or generates an Ed25519 key and saves it there if the
    /// file does not exist.
    fn load_or_generate(path: impl AsRef<Path>) -> Result<Self, KeyFileError>;
}

impl KeypairExt for Keypair {
    fn from_seed(seed: [u8; 32]) -> Self {
        let mut seed = Zeroizing::new(seed);
        // `try_from_bytes` only checks that it was given 32 bytes (and zeroes them).
        match ed25519::SecretKey::try_from_bytes(&mut seed[..]) {
            Ok(secret) => ed25519::Keypair::from(secret).into(),
            Err(_) => unreachable!("an array of 32 bytes is always an Ed25519 secret"),
        }
    }

    fn generate() -> Result<Self, RandomnessError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(RandomnessError)?;
        let kp = Self::from_seed(seed);
        seed.zeroize();
        Ok(kp)
    }

    fn peer_id(&self) -> PeerId {
        self.public().to_peer_id()
    }

    fn ed25519_seed(&self) -> Option<Zeroizing<[u8; 32]>> {
        let pair = self.clone().try_into_ed25519().ok()?;
        // `to_bytes` is `secret(32) || public(32)`.
        let both = Zeroizing::new(pair.to_bytes());
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&both[..32]);
        Some(seed)
    }

    fn ed25519_public(&self) -> Option<[u8; 32]> {
        self.public().ed25519_bytes()
    }

    fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        keyfile::load(path.as_ref())
    }

    fn save(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
        keyfile::save(self, path.as_ref())
    }

    fn load_or_generate(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        keyfile::load_or_generate(path.as_ref())
    }
}

/// Rhizome's helpers for a libp2p-identity [`PublicKey`].
pub trait PublicKeyExt: Sized {
    /// An Ed25519 public key from its 32 bytes (a Hyperswarm peer's key is its
    /// identity: this is how it becomes a `PeerId`).
    fn from_ed25519_bytes(bytes: &[u8; 32]) -> Result<Self, DecodingError>;

    /// The 32 raw bytes of an Ed25519 public key, or `None` for another key type.
    fn ed25519_bytes(&self) -> Option<[u8; 32]>;
}

impl PublicKeyExt for PublicKey {
    fn from_ed25519_bytes(bytes: &[u8; 32]) -> Result<Self, DecodingError> {
        Ok(PublicKey::from(ed25519::PublicKey::try_from_bytes(bytes)?))
    }

    fn ed25519_bytes(&self) -> Option<[u8; 32]> {
        self.clone().try_into_ed25519().ok().map(|key| key.to_bytes())
    }
}

#[cfg(test)]
pub(crate) mod tests;
