//! The text forms of a [`PeerId`] that libp2p-identity lacks: the CIDv1 `libp2p-key`
//! form (RFC 0001), printed and parsed, and the inlined public key.

use libp2p_identity::{PeerId, PublicKey};

use crate::error::ParseError;

/// Multihash code of the identity "hash".
const IDENTITY: u64 = 0x00;
/// Multicodec `libp2p-key`, the codec of a peer id written as a CID.
const LIBP2P_KEY_CODEC: u64 = 0x72;

/// Rhizome's helpers for a libp2p-identity [`PeerId`].
pub trait PeerIdExt {
    /// The CIDv1 `libp2p-key` text form in multibase base32 (`bafzaa…`).
    fn to_cid_string(&self) -> String;

    /// The public key, when the peer id inlines it (an identity multihash: Ed25519 and
    /// secp256k1 keys); `None` for hashed ids (RSA, ECDSA).
    fn public_key(&self) -> Option<PublicKey>;
}

impl PeerIdExt for PeerId {
    fn to_cid_string(&self) -> String {
        let mut cid = Vec::with_capacity(66);
        push_varint(&mut cid, 1);
        push_varint(&mut cid, LIBP2P_KEY_CODEC);
        cid.extend_from_slice(&self.to_bytes());
        format!("b{}", data_encoding::BASE32_NOPAD.encode(&cid).to_ascii_lowercase())
    }

    fn public_key(&self) -> Option<PublicKey> {
        let multihash = self.as_ref();
        (multihash.code() == IDENTITY).then(|| PublicKey::try_decode_protobuf(multihash.digest()).ok()).flatten()
    }
}

/// Parses a peer id in either text form: the legacy base58btc multihash (`12D3KooW…`,
/// `16Uiu2…`, `Qm…`) or the CIDv1 `libp2p-key` form (multibase `b…` base32 or `z…`
/// base58btc). `str::parse::<PeerId>` reads only the first.
pub fn parse_peer_id(s: &str) -> Result<PeerId, ParseError> {
    let Some(first) = s.chars().next() else {
        return Err(ParseError::Empty);
    };
    // Legacy base58btc multihash: identity multihashes start with '1', sha256 ones with "Qm".
    if first == '1' || s.starts_with("Qm") {
        let bytes = bs58::decode(s).into_vec().map_err(ParseError::Base58)?;
        return PeerId::from_bytes(&bytes).map_err(ParseError::InvalidMultihash);
    }
    let body = &s[first.len_utf8()..];
    let cid = match first {
        'b' => data_encoding::BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()).map_err(ParseError::Base32)?,
        'z' => bs58::decode(body).into_vec().map_err(ParseError::Base58)?,
        other => return Err(ParseError::UnsupportedMultibase(other)),
    };
    let (version, rest) = unsigned_varint::decode::u64(&cid).map_err(|_| ParseError::NotLibp2pKeyCid)?;
    let (codec, multihash) = unsigned_varint::decode::u64(rest).map_err(|_| ParseError::NotLibp2pKeyCid)?;
    if version != 1 || codec != LIBP2P_KEY_CODEC {
        return Err(ParseError::NotLibp2pKeyCid);
    }
    PeerId::from_bytes(multihash).map_err(ParseError::InvalidMultihash)
}

fn push_varint(out: &mut Vec<u8>, v: u64) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(v, &mut buf));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeypairExt as _;
    use crate::keys::tests::{SECP256K1_PUBLIC, SPEC_ED25519_PUBLIC};
    use libp2p_identity::Keypair;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn spec_ed25519_peer_id() {
        let pk = PublicKey::try_decode_protobuf(&hex(SPEC_ED25519_PUBLIC)).unwrap();
        let id = pk.to_peer_id();
        assert_eq!(id.to_bytes(), hex(&format!("0024{SPEC_ED25519_PUBLIC}")));
        assert_eq!(id.to_base58(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        assert_eq!(id.to_cid_string(), "bafzaajaiaejcahwr5d5ofrfbis4l5d6uwr57hu5tjodrypfm6yaq6dsc2r2pzyt6");
        assert_eq!(id.public_key(), Some(pk));
        for text in [id.to_base58(), id.to_cid_string()] {
            assert_eq!(parse_peer_id(&text).unwrap(), id);
        }
        assert_eq!(id.to_base58().parse::<PeerId>().unwrap(), id);
    }

    #[test]
    fn seed_one_peer_id() {
        let id = Keypair::from_seed([1; 32]).peer_id();
        assert_eq!(id.to_string(), "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5");
    }

    #[test]
    fn secp256k1_peer_id_inlines_the_key() {
        // 37-byte public key protobuf (08 02 12 21 <33-byte compressed point>), inlined.
        let pk = PublicKey::try_decode_protobuf(&hex(SECP256K1_PUBLIC)).unwrap();
        let id = pk.to_peer_id();
        assert_eq!(id.to_bytes(), hex(&format!("0025{SECP256K1_PUBLIC}")));
        assert!(id.to_base58().starts_with("16Uiu2"), "{id}");
        assert_eq!(id.public_key(), Some(pk));
        assert_eq!(parse_peer_id(&id.to_cid_string()).unwrap(), id);
    }

    #[test]
    fn spec_sha256_peer_id_both_forms() {
        let a = parse_peer_id("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N").unwrap();
        let b = parse_peer_id("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe").unwrap();
        assert_eq!(a, b);
        assert_eq!(&a.to_bytes()[..2], &[0x12, 0x20]);
        assert_eq!(a.public_key(), None);
        assert_eq!(a.to_base58(), "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N");
        assert_eq!(a.to_cid_string(), "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe");
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "1", "Qm", "x123", "bafy", "12D3KooW!!", "b", "z"] {
            assert!(parse_peer_id(bad).is_err(), "{bad:?} parsed");
        }
        assert!(matches!(parse_peer_id(""), Err(ParseError::Empty)));
        assert!(matches!(parse_peer_id("x1"), Err(ParseError::UnsupportedMultibase('x'))));
        // A CID with a codec other than libp2p-key (dag-pb, 0x70).
        let mut cid = vec![1, 0x70];
        cid.extend_from_slice(&Keypair::from_seed([1; 32]).peer_id().to_bytes());
        let text = format!("b{}", data_encoding::BASE32_NOPAD.encode(&cid).to_ascii_lowercase());
        assert!(matches!(parse_peer_id(&text), Err(ParseError::NotLibp2pKeyCid)));
    }

    #[test]
    fn rejects_bad_multihash() {
        // The same set rust-libp2p and go-libp2p refuse.
        assert!(PeerId::from_bytes(&[0x00, 43]).is_err()); // identity too long
        assert!(PeerId::from_bytes(&[0x13, 0]).is_err()); // unknown code
        assert!(PeerId::from_bytes(&[0x00, 2, 1]).is_err()); // truncated digest
        let mut long = vec![0x00, 43];
        long.extend_from_slice(&[7; 43]);
        let text = bs58::encode(&long).into_string();
        assert!(matches!(parse_peer_id(&text), Err(ParseError::InvalidMultihash(_))), "{text}");
    }

    #[test]
    fn multiaddr_shares_the_peer_id_type() {
        let id = Keypair::from_seed([9; 32]).peer_id();
        let addr = multiaddr::Multiaddr::empty().with(multiaddr::Protocol::P2p(id));
        assert_eq!(addr.iter().next(), Some(multiaddr::Protocol::P2p(id)));
    }

    proptest::proptest! {
        #[test]
        fn text_forms_round_trip(seed in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let id = Keypair::from_seed(seed).peer_id();
            proptest::prop_assert_eq!(parse_peer_id(&id.to_base58()).unwrap(), id);
            proptest::prop_assert_eq!(parse_peer_id(&id.to_cid_string()).unwrap(), id);
            proptest::prop_assert_eq!(PeerId::from_bytes(&id.to_bytes()).unwrap(), id);
        }

        #[test]
        fn parsing_never_panics(s in "\\PC{0,80}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80)) {
            let _ = parse_peer_id(&s);
            let _ = PeerId::from_bytes(&bytes);
        }
    }
}
