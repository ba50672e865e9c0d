//! Mutable and immutable record encodings of hyperdht 6.34 (`lib/messages.js`:
//! `mutablePutRequest`, `mutableGetResponse`, `mutableSignable`) and the mutable-put signature
//! (`Persistent.signMutable` / `verifyMutable`).
//!
//! - MUTABLE_PUT value: `publicKey fixed32, seq uint, value buffer, signature fixed64`.
//! - MUTABLE_GET request value: `seq uint` (the lowest seq wanted); reply value:
//!   `seq uint, value buffer, signature fixed64`.
//! - Mutable target = BLAKE2b-256(publicKey); immutable target = BLAKE2b-256(value).
//! - Signature: Ed25519 over `NS_MUTABLE_PUT || BLAKE2b-256(uint(seq) || buffer(value))`.
//!
//! Like compact-encoding's `decode`, trailing bytes after a record are ignored.

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use ed25519_dalek::{Signature, VerifyingKey};

use crate::compact::{DecodeError, Decoder, Encoder};
use crate::message::Id;

/// `NS_MUTABLE_PUT` = BLAKE2b-256(BLAKE2b-256("hyperswarm/dht") || 0x06).
pub use super::ns::NS_MUTABLE_PUT;

/// hyperdht error code: a put reused the stored seq with a different value.
pub const SEQ_REUSED: u64 = 16;
/// hyperdht error code: a put's seq is below the stored one.
pub const SEQ_TOO_LOW: u64 = 17;

/// BLAKE2b-256 of `bytes` (libsodium `crypto_generichash`, 32-byte output, no key).
pub fn hash(bytes: &[u8]) -> Id {
    Blake2b::<U32>::digest(bytes).into()
}

/// The DHT target a mutable record of `public_key` is stored under.
pub fn mutable_target(public_key: &[u8; 32]) -> Id {
    hash(public_key)
}

/// The DHT target an immutable `value` is stored under.
pub fn immutable_target(value: &[u8]) -> Id {
    hash(value)
}

/// A signed mutable record without its key: the MUTABLE_GET reply value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableRecord {
    /// Sequence number; a larger one replaces a smaller one.
    pub seq: u64,
    /// The stored value.
    pub value: Vec<u8>,
    /// Ed25519 signature over [`signable`].
    pub signature: [u8; 64],
}

/// A MUTABLE_PUT request value: a record and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutablePut {
    /// The signer's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The record.
    pub record: MutableRecord,
}

/// The 64 bytes a mutable put signs: `NS_MUTABLE_PUT || BLAKE2b-256(uint(seq) || buffer(value))`.
pub fn signable(seq: u64, value: &[u8]) -> [u8; 64] {
    let mut inner = Encoder::new();
    inner.uint(seq).buffer(value);
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&NS_MUTABLE_PUT);
    out[32..].copy_from_slice(&hash(&inner.finish()));
    out
}

/// Whether `signature` is `public_key`'s signature of `(seq, value)`. A public key that is not
/// a valid point fails. Uses strict verification (libsodium also rejects non-canonical and
/// small-order inputs).
pub fn verify(public_key: &[u8; 32], seq: u64, value: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(&signable(seq, value), &Signature::from_bytes(signature)).is_ok()
}

impl MutableRecord {
    /// Whether the record is `public_key`'s.
    pub fn verify(&self, public_key: &[u8; 32]) -> bool {
        verify(public_key, self.seq, &self.value, &self.signature)
    }

    /// `mutableGetResponse` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        self.encode_into(&mut e);
        e.finish()
    }

    fn encode_into(&self, e: &mut Encoder) {
        e.uint(self.seq).buffer(&self.value).fixed(&self.signature);
    }

    /// Decodes `mutableGetResponse`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::decode_from(&mut Decoder::new(bytes))
    }

    fn decode_from(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let seq = d.uint()?;
        let value = d.buffer()?.to_vec();
        let signature = d.fixed64()?;
        Ok(Self { seq, value, signature })
    }
}

impl MutablePut {
    /// Signs `(seq, value)` with `sign` (a detached Ed25519 signer for `public_key`).
    pub fn sign(public_key: [u8; 32], seq: u64, value: Vec<u8>, sign: impl FnOnce(&[u8]) -> [u8; 64]) -> Self {
        let signature = sign(&signable(seq, &value));
        Self { public_key, record: MutableRecord { seq, value, signature } }
    }

    /// Whether the signature verifies.
    pub fn verify(&self) -> bool {
        self.record.verify(&self.public_key)
    }

    /// The target the put is addressed to.
    pub fn target(&self) -> Id {
        mutable_target(&self.public_key)
    }

    /// `mutablePutRequest` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.fixed(&self.public_key);
        self.record.encode_into(&mut e);
        e.finish()
    }

    /// Decodes `mutablePutRequest`.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut d = Decoder::new(bytes);
        let public_key = d.fixed32()?;
        let record = MutableRecord::decode_from(&mut d)?;
        Ok(Self { public_key, record })
    }
}

/// The MUTABLE_GET request value: `uint seq`.
pub fn encode_get_request(min_seq: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.uint(min_seq);
    e.finish()
}

/// Decodes a MUTABLE_GET request value.
pub fn decode_get_request(bytes: &[u8]) -> Result<u64, DecodeError> {
    Decoder::new(bytes).uint()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};
    use proptest::prelude::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[0xaa; 32])
    }

    fn put(seq: u64, value: &[u8]) -> MutablePut {
        let k = key();
        MutablePut::sign(k.verifying_key().to_bytes(), seq, value.to_vec(), |m| k.sign(m).to_bytes())
    }

    #[test]
    fn namespace_is_derived_from_hyperswarm_dht() {
        let mut base = hash(b"hyperswarm/dht").to_vec();
        base.push(6);
        assert_eq!(hash(&base), NS_MUTABLE_PUT);
    }

    #[test]
    fn signature_verifies_and_tampering_fails() {
        let p = put(5, b"value");
        assert!(p.verify());
        let mut bad = p.clone();
        bad.record.seq = 6;
        assert!(!bad.verify());
        let mut bad = p.clone();
        bad.record.value.push(0);
        assert!(!bad.verify());
        let mut bad = p;
        bad.public_key = [0xbb; 32];
        assert!(!bad.verify());
    }

    proptest! {
        #[test]
        fn round_trip(seq in any::<u64>(), value in proptest::collection::vec(any::<u8>(), 0..400)) {
            let p = put(seq, &value);
            prop_assert_eq!(MutablePut::decode(&p.encode()).unwrap(), p.clone());
            prop_assert_eq!(MutableRecord::decode(&p.record.encode()).unwrap(), p.record);
            prop_assert_eq!(decode_get_request(&encode_get_request(seq)).unwrap(), seq);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = MutablePut::decode(&bytes);
            let _ = MutableRecord::decode(&bytes);
            let _ = decode_get_request(&bytes);
        }
    }
}
