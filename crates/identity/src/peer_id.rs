//! `PeerId`: the multihash of a public key's protobuf encoding.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;

use crate::PublicKey;
use crate::error::ParseError;

/// Multihash code of the identity "hash".
const IDENTITY: u64 = 0x00;
/// Multihash code of sha2-256.
const SHA2_256: u64 = 0x12;
/// Keys whose protobuf is at most this long are inlined (identity multihash).
const MAX_INLINE_KEY_LEN: usize = 42;
/// Multicodec `libp2p-key`, the codec of a peer id written as a CID.
const LIBP2P_KEY_CODEC: u64 = 0x72;
/// The largest multihash we accept: identity of a 42-byte key (2 + 42 bytes).
const MAX_MULTIHASH_LEN: usize = 2 + MAX_INLINE_KEY_LEN;

/// The identity of a peer: the multihash of its public key's protobuf encoding.
///
/// An Ed25519 key's protobuf is 36 bytes, so its peer id is the identity multihash
/// `00 24 08 01 12 20 <key>` (38 bytes), printed in base58btc as `12D3KooW…`.
/// Longer keys (RSA) are identified by a sha2-256 multihash (`Qm…`).
///
/// Parsing accepts the legacy base58btc form and the CIDv1 `libp2p-key` form
/// (multibase `b…` base32 or `z…` base58btc).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    len: u8,
    bytes: [u8; MAX_MULTIHASH_LEN],
}

impl PeerId {
    /// The peer id of `key`.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let encoded = key.to_protobuf_encoding();
        let mut out = Vec::with_capacity(2 + encoded.len());
        if encoded.len() <= MAX_INLINE_KEY_LEN {
            push_varint(&mut out, IDENTITY);
            push_varint(&mut out, encoded.len() as u64);
            out.extend_from_slice(&encoded);
        } else {
            push_varint(&mut out, SHA2_256);
            push_varint(&mut out, 32);
            out.extend_from_slice(&sha2::Sha256::digest(&encoded));
        }
        Self::from_valid(&out)
    }

    fn from_valid(bytes: &[u8]) -> Self {
        let mut arr = [0u8; MAX_MULTIHASH_LEN];
        arr[..bytes.len()].copy_from_slice(bytes);
        Self { len: bytes.len() as u8, bytes: arr }
    }

    /// Parses the binary multihash form. Accepts identity multihashes of at most 42
    /// bytes and sha2-256 multihashes, as rust-libp2p and go-libp2p do.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.is_empty() {
            return Err(ParseError::Empty);
        }
        let (code, rest) = unsigned_varint::decode::u64(bytes).map_err(|_| ParseError::InvalidMultihash)?;
        let (len, digest) = unsigned_varint::decode::u64(rest).map_err(|_| ParseError::InvalidMultihash)?;
        let valid = match code {
            IDENTITY => len as usize <= MAX_INLINE_KEY_LEN,
            SHA2_256 => len == 32,
            _ => false,
        };
        if !valid || digest.len() as u64 != len {
            return Err(ParseError::InvalidMultihash);
        }
        Ok(Self::from_valid(bytes))
    }

    /// The binary multihash.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The binary multihash, owned.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// The public key, when it is inlined (identity multihash of an Ed25519 key).
    pub fn public_key(&self) -> Option<PublicKey> {
        let (code, rest) = unsigned_varint::decode::u64(self.as_bytes()).ok()?;
        let (_, key) = unsigned_varint::decode::u64(rest).ok()?;
        (code == IDENTITY).then(|| PublicKey::from_protobuf_encoding(key).ok()).flatten()
    }

    /// Legacy base58btc text form (`12D3KooW…`), the recommended display form.
    pub fn to_base58(&self) -> String {
        bs58::encode(self.as_bytes()).into_string()
    }

    /// CIDv1 `libp2p-key` text form in multibase base32 (`bafzaa…`).
    pub fn to_cid_string(&self) -> String {
        let mut cid = Vec::with_capacity(2 + self.len as usize);
        push_varint(&mut cid, 1);
        push_varint(&mut cid, LIBP2P_KEY_CODEC);
        cid.extend_from_slice(self.as_bytes());
        format!("b{}", data_encoding::BASE32_NOPAD.encode(&cid).to_ascii_lowercase())
    }

    /// A random peer id (an identity multihash of a random Ed25519 key), for tests and
    /// DHT lookups.
    pub fn random() -> Result<Self, crate::RandomnessError> {
        Ok(crate::Keypair::generate()?.peer_id())
    }

    fn parse_cid(cid: &[u8]) -> Result<Self, ParseError> {
        let (version, rest) = unsigned_varint::decode::u64(cid).map_err(|_| ParseError::NotLibp2pKeyCid)?;
        let (codec, mh) = unsigned_varint::decode::u64(rest).map_err(|_| ParseError::NotLibp2pKeyCid)?;
        if version != 1 || codec != LIBP2P_KEY_CODEC {
            return Err(ParseError::NotLibp2pKeyCid);
        }
        Self::from_bytes(mh)
    }
}

fn push_varint(out: &mut Vec<u8>, v: u64) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(v, &mut buf));
}

impl FromStr for PeerId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(first) = s.chars().next() else {
            return Err(ParseError::Empty);
        };
        // Legacy base58btc multihash: identity multihashes start with '1', sha256 ones with "Qm".
        if first == '1' || s.starts_with("Qm") {
            let bytes = bs58::decode(s).into_vec().map_err(ParseError::Base58)?;
            return Self::from_bytes(&bytes);
        }
        let body = &s[first.len_utf8()..];
        let cid = match first {
            'b' => data_encoding::BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()).map_err(ParseError::Base32)?,
            'z' => bs58::decode(body).into_vec().map_err(ParseError::Base58)?,
            other => return Err(ParseError::UnsupportedMultibase(other)),
        };
        Self::parse_cid(&cid)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({})", self.to_base58())
    }
}

impl From<PeerId> for multiaddr::PeerId {
    fn from(p: PeerId) -> Self {
        match multiaddr::PeerId::from_bytes(p.as_bytes()) {
            Ok(id) => id,
            // Our PeerId only ever holds identity (≤ 42 bytes) or sha2-256 multihashes,
            // exactly the set libp2p-identity accepts.
            Err(_) => unreachable!("PeerId invariant: multihash accepted by libp2p-identity"),
        }
    }
}

impl TryFrom<multiaddr::PeerId> for PeerId {
    type Error = ParseError;

    fn try_from(p: multiaddr::PeerId) -> Result<Self, Self::Error> {
        Self::from_bytes(&p.to_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Keypair;

    const SPEC_PUB: &str = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER.decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn spec_ed25519_peer_id() {
        let pk = PublicKey::from_protobuf_encoding(&hex(SPEC_PUB)).unwrap();
        let id = pk.to_peer_id();
        assert_eq!(id.as_bytes(), hex(&format!("0024{SPEC_PUB}")));
        assert_eq!(id.to_base58(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        assert_eq!(id.to_cid_string(), "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
        assert_eq!(id.public_key(), Some(pk));
        for text in [id.to_base58(), id.to_cid_string()] {
            assert_eq!(text.parse::<PeerId>().unwrap(), id);
        }
    }

    #[test]
    fn seed_one_peer_id() {
        let id = Keypair::from_seed([1; 32]).peer_id();
        assert_eq!(id.to_string(), "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5");
    }

    #[test]
    fn spec_sha256_peer_id_both_forms() {
        let a: PeerId = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N".parse().unwrap();
        let b: PeerId = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(&a.as_bytes()[..2], &[0x12, 0x20]);
        assert_eq!(a.public_key(), None);
        assert_eq!(a.to_base58(), "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "1", "Qm", "x123", "bafy", "12D3KooW!!", "b", "z"] {
            assert!(bad.parse::<PeerId>().is_err(), "{bad:?} parsed");
        }
        // A CID with a codec other than libp2p-key (dag-pb, 0x70).
        let mut cid = vec![1, 0x70];
        cid.extend_from_slice(Keypair::from_seed([1; 32]).peer_id().as_bytes());
        let text = format!("b{}", data_encoding::BASE32_NOPAD.encode(&cid).to_ascii_lowercase());
        assert!(matches!(text.parse::<PeerId>(), Err(ParseError::NotLibp2pKeyCid)));
    }

    #[test]
    fn rejects_bad_multihash() {
        assert!(PeerId::from_bytes(&[0x00, 43]).is_err()); // identity too long
        assert!(PeerId::from_bytes(&[0x12, 31]).is_err()); // sha256 wrong length
        assert!(PeerId::from_bytes(&[0x13, 0]).is_err()); // unknown code
        assert!(PeerId::from_bytes(&[0x00, 2, 1]).is_err()); // truncated digest
        assert!(PeerId::from_bytes(&[0x00, 1, 1, 1]).is_err()); // trailing byte
    }

    #[test]
    fn converts_to_and_from_multiaddr_peer_id() {
        let id = Keypair::from_seed([9; 32]).peer_id();
        let theirs: multiaddr::PeerId = id.into();
        assert_eq!(theirs.to_base58(), id.to_base58());
        assert_eq!(PeerId::try_from(theirs).unwrap(), id);
    }

    proptest::proptest! {
        #[test]
        fn text_forms_round_trip(seed in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let id = Keypair::from_seed(seed).peer_id();
            proptest::prop_assert_eq!(id.to_base58().parse::<PeerId>().unwrap(), id);
            proptest::prop_assert_eq!(id.to_cid_string().parse::<PeerId>().unwrap(), id);
            proptest::prop_assert_eq!(PeerId::from_bytes(id.as_bytes()).unwrap(), id);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = s.parse::<PeerId>();
            let _ = PeerId::from_bytes(&bytes);
        }
    }
}
