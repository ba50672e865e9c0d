//! Key files: a libp2p `PrivateKey` protobuf on disk, created with mode 0600.

use std::io::Write as _;
use std::path::Path;

use crate::Keypair;
use crate::error::{KeyFileError, RandomnessError};

/// The largest key file we read. An Ed25519 private key protobuf is 68 bytes (100 legacy).
const MAX_KEY_FILE_LEN: u64 = 4096;

impl Keypair {
    /// Loads a keypair saved by [`Keypair::save`] (a libp2p `PrivateKey` protobuf).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        let io_err = |source| KeyFileError::Io { path: path.to_owned(), source };
        let file = std::fs::File::open(path).map_err(io_err)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_KEY_FILE_LEN), &mut bytes).map_err(io_err)?;
        let result = Keypair::from_protobuf_encoding(&bytes).map_err(|source| KeyFileError::Decode { path: path.to_owned(), source });
        zeroize::Zeroize::zeroize(&mut bytes);
        result
    }

    /// Saves the keypair as a libp2p `PrivateKey` protobuf. A new file is created with
    /// permissions 0600 (owner read/write only) on Unix; an existing file is replaced
    /// atomically through a temporary file in the same directory.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), KeyFileError> {
        let path = path.as_ref();
        let io_err = |source| KeyFileError::Io { path: path.to_owned(), source };
        let tmp = path.with_extension("tmp-key");
        let mut bytes = self.to_protobuf_encoding();
        let written = write_private(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, path));
        zeroize::Zeroize::zeroize(&mut bytes);
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(io_err)
    }

    /// Loads the key at `path`, or generates one and saves it there if the file does
    /// not exist.
    pub fn load_or_generate(path: impl AsRef<Path>) -> Result<Self, KeyFileError> {
        let path = path.as_ref();
        match Self::load(path) {
            Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                let kp = Self::generate()
                    .map_err(|e: RandomnessError| KeyFileError::Io { path: path.to_owned(), source: std::io::Error::other(e) })?;
                kp.save(path)?;
                Ok(kp)
            }
            other => other,
        }
    }
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
}
