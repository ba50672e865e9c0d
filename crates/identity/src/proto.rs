//! The libp2p `PrivateKey` protobuf (`keys.proto`, proto2), declared by hand so that
//! building needs no `protoc`. We decode it ourselves only to read the legacy 96-byte
//! Ed25519 form; everything else goes through libp2p-identity.

/// `enum KeyType { RSA = 0; Ed25519 = 1; Secp256k1 = 2; ECDSA = 3; }`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum KeyType {
    Rsa = 0,
    Ed25519 = 1,
    Secp256k1 = 2,
    Ecdsa = 3,
}

/// `message PrivateKey { required KeyType Type = 1; required bytes Data = 2; }`
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct PrivateKey {
    #[prost(enumeration = "KeyType", required, tag = "1")]
    pub(crate) r#type: i32,
    #[prost(bytes = "vec", required, tag = "2")]
    pub(crate) data: Vec<u8>,
}
