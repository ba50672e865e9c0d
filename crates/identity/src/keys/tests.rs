//! Key encodings (hex vectors) and signatures of every key type.

use libp2p_identity::{KeyType, Keypair, PublicKey};

use super::{KeypairExt as _, PublicKeyExt as _};

fn hex(s: &str) -> Vec<u8> {
    data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap()
}

// From the libp2p peer-ids spec (specs/peer-id.md).
pub(crate) const SPEC_ED25519_PRIVATE: &str = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
pub(crate) const SPEC_ED25519_PUBLIC: &str = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
// go-libp2p's secp256k1 and ECDSA vectors (also in libp2p-identity's tests).
pub(crate) const SECP256K1_PRIVATE: &str = "0802122053dadf1d5a164d6b4acdb15e24aa4c5b1d3461bdbd42abedb0a4404d56ced8fb";
pub(crate) const SECP256K1_PUBLIC: &str = "08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99";
pub(crate) const ECDSA_PRIVATE: &str = "08031279307702010104203e5b1fe9712e6c314942a750bd67485de3c1efe85b1bfb520ae8f9ae3dfa4a4ca00a06082a8648ce3d030107a14403420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e62";
pub(crate) const ECDSA_PUBLIC: &str = "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004de3d300fa36ae0e8f5d530899d83abab44abf3161f162a4bc901d8e6ecda020e8b6d5f8da30525e71d6851510c098e5c47c646a597fb4dcec034e9f77c409e62";

/// The committed test RSA key (PKCS#8 DER, generated once with `openssl genpkey`; see
/// interop-tests/fixtures/README.md).
pub(crate) fn rsa_fixture() -> Vec<u8> {
    include_bytes!("../../../../interop-tests/fixtures/rsa-2048.pk8").to_vec()
}

#[test]
fn spec_ed25519_vectors() {
    let kp = Keypair::from_protobuf_encoding(&hex(SPEC_ED25519_PRIVATE)).unwrap();
    assert_eq!(kp.to_protobuf_encoding().unwrap(), hex(SPEC_ED25519_PRIVATE));
    assert_eq!(kp.public().encode_protobuf(), hex(SPEC_ED25519_PUBLIC));
    assert_eq!(PublicKey::try_decode_protobuf(&hex(SPEC_ED25519_PUBLIC)).unwrap(), kp.public());
    // Seed and public key bytes are the two halves of the private key's Data.
    let data = &hex(SPEC_ED25519_PRIVATE)[4..];
    assert_eq!(&kp.ed25519_seed().unwrap()[..], &data[..32]);
    assert_eq!(&kp.ed25519_public().unwrap()[..], &data[32..]);
    assert_eq!(Keypair::from_seed(kp.ed25519_seed().unwrap().as_ref().try_into().unwrap()).public(), kp.public());
}

#[test]
fn secp256k1_and_ecdsa_vectors() {
    for (private, public, key_type) in
        [(SECP256K1_PRIVATE, SECP256K1_PUBLIC, KeyType::Secp256k1), (ECDSA_PRIVATE, ECDSA_PUBLIC, KeyType::Ecdsa)]
    {
        let kp = Keypair::from_protobuf_encoding(&hex(private)).unwrap();
        assert_eq!(kp.key_type(), key_type);
        assert_eq!(kp.to_protobuf_encoding().unwrap(), hex(private));
        assert_eq!(kp.public().encode_protobuf(), hex(public));
        assert_eq!(PublicKey::try_decode_protobuf(&hex(public)).unwrap(), kp.public());
        assert!(kp.ed25519_seed().is_none());
        assert!(kp.ed25519_public().is_none());
        assert!(kp.public().ed25519_bytes().is_none());
    }
}

#[test]
fn rsa_fixture_public_key_and_peer_id() {
    let kp = Keypair::rsa_from_pkcs8(&mut rsa_fixture()).unwrap();
    assert_eq!(kp.key_type(), KeyType::RSA);
    let public = kp.public().encode_protobuf();
    // 08 00 12 a6 02 <294-byte X.509 SubjectPublicKeyInfo of a 2048-bit key>.
    assert_eq!(&public[..5], &[0x08, 0x00, 0x12, 0xa6, 0x02]);
    assert_eq!(public.len(), 5 + 294);
    assert_eq!(PublicKey::try_decode_protobuf(&public).unwrap(), kp.public());
    // Too long to inline: the peer id is a sha2-256 multihash (`Qm…`).
    let id = kp.peer_id();
    assert_eq!(&id.to_bytes()[..2], &[0x12, 0x20]);
    assert!(id.to_base58().starts_with("Qm"), "{id}");
}

#[test]
fn seeds_are_ed25519_secrets() {
    let kp = Keypair::from_seed([1; 32]);
    assert_eq!(kp.key_type(), KeyType::Ed25519);
    assert_eq!(kp.ed25519_seed().unwrap().as_ref(), &[1; 32]);
    assert_eq!(kp.peer_id().to_string(), "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5");
    assert_ne!(Keypair::generate().unwrap().peer_id(), Keypair::generate().unwrap().peer_id());
}

#[test]
fn sign_and_verify_every_key_type() {
    let keys = [
        Keypair::from_seed([3; 32]),
        Keypair::from_protobuf_encoding(&hex(SECP256K1_PRIVATE)).unwrap(),
        Keypair::from_protobuf_encoding(&hex(ECDSA_PRIVATE)).unwrap(),
        Keypair::rsa_from_pkcs8(&mut rsa_fixture()).unwrap(),
    ];
    for kp in &keys {
        let sig = kp.sign(b"hello").unwrap();
        let public = kp.public();
        assert!(public.verify(b"hello", &sig), "{:?}", kp.key_type());
        assert!(!public.verify(b"hellO", &sig), "{:?}", kp.key_type());
        assert!(!public.verify(b"hello", &sig[..sig.len() - 1]), "{:?}", kp.key_type());
        assert!(!Keypair::from_seed([4; 32]).public().verify(b"hello", &sig));
    }
    assert_eq!(keys[0].sign(b"hello").unwrap().len(), 64);
}

#[test]
fn wrong_key_type_and_lengths() {
    // Key type 7 does not exist; an Ed25519 key of 31 bytes is invalid; junk is junk.
    assert!(PublicKey::try_decode_protobuf(&hex("08071203010203")).is_err());
    let mut short = hex("0801121f");
    short.extend_from_slice(&[1; 31]);
    assert!(PublicKey::try_decode_protobuf(&short).is_err());
    assert!(PublicKey::try_decode_protobuf(&[0xff, 0xff]).is_err());
    // An RSA key type with junk data.
    assert!(PublicKey::try_decode_protobuf(&hex("08001203010203")).is_err());
}

proptest::proptest! {
    #[test]
    fn keys_round_trip(seed in proptest::array::uniform32(proptest::num::u8::ANY)) {
        let kp = Keypair::from_seed(seed);
        let back = Keypair::from_protobuf_encoding(&kp.to_protobuf_encoding().unwrap()).unwrap();
        proptest::prop_assert_eq!(back.public(), kp.public());
        let pk = PublicKey::try_decode_protobuf(&kp.public().encode_protobuf()).unwrap();
        proptest::prop_assert_eq!(pk, kp.public());
        proptest::prop_assert_eq!(kp.ed25519_seed().map(|s| *s), Some(seed));
    }

    #[test]
    fn public_key_decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..128)) {
        let _ = PublicKey::try_decode_protobuf(&bytes);
    }
}
