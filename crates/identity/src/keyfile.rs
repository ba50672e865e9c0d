//! Key files: a libp2p `PrivateKey` protobuf on disk, created with mode 0600.

use std::io::Write as _;
use std::path::Path;

use libp2p_identity::{DecodingError, Keypair};
use prost::Message as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::KeypairExt as _;
use crate::error::{KeyFileError, RandomnessError};
use crate::proto;

/// The largest key file we read. An Ed25519 private key protobuf is 68 bytes (100 in
/// the legacy form), a secp256k1 one 36, an ECDSA one about 125.
const MAX_KEY_FILE_LEN: u64 = 4096;

pub(crate) fn load(path: &Path) -> Result<Keypair, KeyFileError> {
    let io_err = |source| KeyFileError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut bytes = Zeroizing::new(Vec::new());
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_KEY_FILE_LEN), &mut bytes).map_err(io_err)?;
    decode_private(&bytes).map_err(|source| KeyFileError::Decode { path: path.to_owned(), source })
}

pub(crate) fn save(keypair: &Keypair, path: &Path) -> Result<(), KeyFileError> {
    let bytes =
        keypair.to_protobuf_encoding().map(Zeroizing::new).map_err(|source| KeyFileError::Encode { path: path.to_owned(), source })?;
    let tmp = path.with_extension("tmp-key");
    let written = write_private(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|source| KeyFileError::Io { path: path.to_owned(), source })
}

pub(crate) fn load_or_generate(path: &Path) -> Result<Keypair, KeyFileError> {
    match load(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let kp = Keypair::generate()
                .map_err(|e: RandomnessError| KeyFileError::Io { path: path.to_owned(), source: std::io::Error::other(e) })?;
            save(&kp, path)?;
            Ok(kp)
        }
        other => other,
    }
}

/// Decodes a `PrivateKey` protobuf of any key type libp2p-identity supports, and also
/// the legacy Ed25519 form whose `Data` is `seed || public || public` (96 bytes): when
/// the two public copies agree it is read as the usual `seed || public`; when they
/// differ it is refused.
pub(crate) fn decode_private(bytes: &[u8]) -> Result<Keypair, DecodingError> {
    match modern_ed25519(bytes) {
        Some(modern) => Keypair::from_protobuf_encoding(&modern),
        None => Keypair::from_protobuf_encoding(bytes),
    }
}

/// The 64-byte re-encoding of a legacy 96-byte Ed25519 private key whose public copies
/// agree; `None` for anything else (which libp2p-identity then judges on its own).
fn modern_ed25519(bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut msg = proto::PrivateKey::decode(bytes).ok()?;
    let legacy = msg.r#type == proto::KeyType::Ed25519 as i32 && msg.data.len() == 96 && msg.data[32..64] == msg.data[64..];
    let out = legacy.then(|| {
        msg.data[64..].zeroize();
        msg.data.truncate(64);
        Zeroizing::new(msg.encode_to_vec())
    });
    msg.data.zeroize();
    out
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts.open(path)?;
    #[cfg(unix)]
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn save_load_round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let kp = Keypair::from_seed([5; 32]);
        kp.save(&path).unwrap();
        assert_eq!(Keypair::load(&path).unwrap().peer_id(), kp.peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn file_bytes_are_the_ed25519_private_key_protobuf() {
        // The format of every key file written so far: 08 01 12 40 seed(32) public(32).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let kp = Keypair::from_seed([5; 32]);
        kp.save(&path).unwrap();
        let mut want = hex("08011240");
        want.extend_from_slice(&[5; 32]);
        want.extend_from_slice(&kp.ed25519_public().unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    #[test]
    fn spec_private_key_file_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spec.key");
        std::fs::write(&path, hex(crate::keys::tests::SPEC_ED25519_PRIVATE)).unwrap();
        let kp = Keypair::load(&path).unwrap();
        assert_eq!(kp.peer_id().to_string(), "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
    }

    #[test]
    fn secp256k1_key_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secp.key");
        let kp = Keypair::from_protobuf_encoding(&hex(crate::keys::tests::SECP256K1_PRIVATE)).unwrap();
        kp.save(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), hex(crate::keys::tests::SECP256K1_PRIVATE));
        assert_eq!(Keypair::load(&path).unwrap().public(), kp.public());
    }

    #[test]
    fn rsa_keys_cannot_be_saved() {
        let mut der = crate::keys::tests::rsa_fixture();
        let kp = Keypair::rsa_from_pkcs8(&mut der).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rsa.key");
        assert!(matches!(kp.save(&path), Err(KeyFileError::Encode { .. })));
        assert!(!path.exists());
    }

    #[test]
    fn legacy_96_byte_private_key() {
        let kp = Keypair::from_seed([7; 32]);
        let mut data = kp.to_protobuf_encoding().unwrap();
        // Re-encode with data = seed || pub || pub (length 96 = 0x60).
        data[3] = 0x60;
        data.extend_from_slice(&kp.ed25519_public().unwrap());
        assert_eq!(decode_private(&data).unwrap().public(), kp.public());
        // A mismatching third copy is refused.
        let n = data.len();
        data[n - 1] ^= 1;
        assert!(decode_private(&data).is_err());
        // So is a mismatching second copy (the public half of the 64-byte form).
        let mut modern = kp.to_protobuf_encoding().unwrap();
        modern[40] ^= 1;
        assert!(decode_private(&modern).is_err());
    }

    #[test]
    fn load_or_generate_is_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let a = Keypair::load_or_generate(&path).unwrap();
        let b = Keypair::load_or_generate(&path).unwrap();
        assert_eq!(a.peer_id(), b.peer_id());
    }

    #[test]
    fn garbage_file_is_a_decode_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad");
        std::fs::write(&path, b"not a key").unwrap();
        assert!(matches!(Keypair::load(&path), Err(KeyFileError::Decode { .. })));
        assert!(matches!(Keypair::load(dir.path().join("missing")), Err(KeyFileError::Io { .. })));
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..160)) {
            let _ = decode_private(&bytes);
        }
    }
}
