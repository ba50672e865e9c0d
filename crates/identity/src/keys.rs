//! Ed25519 keypairs and public keys with the libp2p protobuf encoding.

use ed25519_dalek::Signer as _;
use prost::Message as _;
use zeroize::Zeroize as _;

use crate::PeerId;
use crate::error::{DecodingError, RandomnessError};
use crate::proto;

/// An Ed25519 identity keypair.
///
/// The secret never appears in `Debug` output.
#[derive(Clone)]
pub struct Keypair {
    signing: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair").field("public", &self.public()).finish_non_exhaustive()
    }
}

impl Keypair {
    /// A fresh keypair from the operating system's randomness.
    pub fn generate() -> Result<Self, RandomnessError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(RandomnessError)?;
        let kp = Self::from_seed(seed);
        seed.zeroize();
        Ok(kp)
    }

    /// The deterministic keypair whose 32-byte Ed25519 secret (RFC 8032 seed) is `seed`.
    ///
    /// `Keypair::from_seed([1; 32]).public().to_peer_id()` is
    /// `12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { signing: ed25519_dalek::SigningKey::from_bytes(&seed) }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey { key: self.signing.verifying_key() }
    }

    /// This key's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.public().to_peer_id()
    }

    /// Signs `msg` (RFC 8032 Ed25519, 64-byte signature).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.signing.sign(msg).to_bytes().to_vec()
    }

    /// The libp2p `PrivateKey` protobuf: `Type = Ed25519`, `Data = seed(32) || public(32)`.
    pub fn to_protobuf_encoding(&self) -> Vec<u8> {
        let mut data = Vec::with_capacity(64);
        data.extend_from_slice(self.signing.as_bytes());
        data.extend_from_slice(self.signing.verifying_key().as_bytes());
        let msg = proto::PrivateKey { r#type: proto::KeyType::Ed25519 as i32, data };
        let out = msg.encode_to_vec();
        let mut msg = msg;
        msg.data.zeroize();
        out
    }

    /// Decodes a libp2p `PrivateKey` protobuf holding an Ed25519 key.
    ///
    /// `Data` may be the 64-byte `seed || public` form or the legacy 96-byte
    /// `seed || public || public`; the public halves must match the seed.
    pub fn from_protobuf_encoding(bytes: &[u8]) -> Result<Self, DecodingError> {
        let mut msg = proto::PrivateKey::decode(bytes).map_err(DecodingError::Protobuf)?;
        let result = Self::from_private_data(msg.r#type, &msg.data);
        msg.data.zeroize();
        result
    }

    fn from_private_data(key_type: i32, data: &[u8]) -> Result<Self, DecodingError> {
        if key_type != proto::KeyType::Ed25519 as i32 {
            return Err(DecodingError::UnsupportedKeyType(key_type));
        }
        if data.len() != 64 && data.len() != 96 {
            return Err(DecodingError::InvalidKey);
        }
        let mut seed = [0u8; 32];
        seed.copy_from_slice(&data[..32]);
        let kp = Self::from_seed(seed);
        seed.zeroize();
        let public = kp.signing.verifying_key();
        let halves_match = data[32..].chunks(32).all(|half| half == public.as_bytes());
        if !halves_match {
            return Err(DecodingError::KeyMismatch);
        }
        Ok(kp)
    }
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key: ed25519_dalek::VerifyingKey,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_peer_id())
    }
}

impl PublicKey {
    /// The 32 raw key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// A key from its 32 raw bytes; fails for bytes that are not a curve point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodingError> {
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| DecodingError::InvalidKey)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(arr).map_err(|_| DecodingError::InvalidKey)?;
        Ok(Self { key })
    }

    /// Verifies an Ed25519 signature (strict verification: no malleable signatures).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }

    /// The libp2p `PublicKey` protobuf: `08 01 12 20 <32 bytes>`.
    pub fn to_protobuf_encoding(&self) -> Vec<u8> {
        proto::PublicKey { r#type: proto::KeyType::Ed25519 as i32, data: self.key.to_bytes().to_vec() }.encode_to_vec()
    }

    /// Decodes a libp2p `PublicKey` protobuf. Only Ed25519 keys are supported.
    pub fn from_protobuf_encoding(bytes: &[u8]) -> Result<Self, DecodingError> {
        let msg = proto::PublicKey::decode(bytes).map_err(DecodingError::Protobuf)?;
        if msg.r#type != proto::KeyType::Ed25519 as i32 {
            return Err(DecodingError::UnsupportedKeyType(msg.r#type));
        }
        Self::from_bytes(&msg.data)
    }

    /// The peer id of this key (an identity multihash of the protobuf encoding).
    pub fn to_peer_id(&self) -> PeerId {
        PeerId::from_public_key(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    // Test vectors from the libp2p peer-ids spec.
    const SPEC_PRIV: &str = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    const SPEC_PUB: &str = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    #[test]
    fn spec_private_key_vector() {
        let kp = Keypair::from_protobuf_encoding(&hex(SPEC_PRIV)).unwrap();
        assert_eq!(kp.to_protobuf_encoding(), hex(SPEC_PRIV));
        assert_eq!(kp.public().to_protobuf_encoding(), hex(SPEC_PUB));
        let pk = PublicKey::from_protobuf_encoding(&hex(SPEC_PUB)).unwrap();
        assert_eq!(pk, kp.public());
    }

    #[test]
    fn legacy_96_byte_private_key() {
        let kp = Keypair::from_seed([7; 32]);
        let mut data = kp.to_protobuf_encoding();
        // Re-encode with data = seed || pub || pub (length 96 = 0x60).
        let public = kp.public().to_bytes();
        data[3] = 0x60;
        data.extend_from_slice(&public);
        assert_eq!(Keypair::from_protobuf_encoding(&data).unwrap().public(), kp.public());
        // A mismatching third copy is refused.
        let n = data.len();
        data[n - 1] ^= 1;
        assert!(matches!(Keypair::from_protobuf_encoding(&data), Err(DecodingError::KeyMismatch)));
    }

    #[test]
    fn wrong_key_type_and_lengths() {
        // RSA public key type with junk data.
        let rsa = proto::PublicKey { r#type: 0, data: vec![1, 2, 3] }.encode_to_vec();
        assert_eq!(&rsa[..2], &[0x08, 0x00], "required Type=0 must be written");
        assert!(matches!(PublicKey::from_protobuf_encoding(&rsa), Err(DecodingError::UnsupportedKeyType(0))));
        let short = proto::PublicKey { r#type: 1, data: vec![1; 31] }.encode_to_vec();
        assert!(matches!(PublicKey::from_protobuf_encoding(&short), Err(DecodingError::InvalidKey)));
        assert!(PublicKey::from_protobuf_encoding(&[0xff, 0xff]).is_err());
    }

    #[test]
    fn sign_and_verify() {
        let kp = Keypair::from_seed([3; 32]);
        let sig = kp.sign(b"hello");
        assert_eq!(sig.len(), 64);
        assert!(kp.public().verify(b"hello", &sig));
        assert!(!kp.public().verify(b"hellO", &sig));
        assert!(!kp.public().verify(b"hello", &sig[..63]));
        assert!(!Keypair::from_seed([4; 32]).public().verify(b"hello", &sig));
    }

    proptest::proptest! {
        #[test]
        fn keys_round_trip(seed in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let kp = Keypair::from_seed(seed);
            let back = Keypair::from_protobuf_encoding(&kp.to_protobuf_encoding()).unwrap();
            proptest::prop_assert_eq!(back.public(), kp.public());
            let pk = PublicKey::from_protobuf_encoding(&kp.public().to_protobuf_encoding()).unwrap();
            proptest::prop_assert_eq!(pk, kp.public());
        }

        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
            let _ = Keypair::from_protobuf_encoding(&bytes);
            let _ = PublicKey::from_protobuf_encoding(&bytes);
        }
    }
}
