//! Pluggable record validation: run before an inbound PUT_VALUE is stored and on
//! every record a GET_VALUE lookup receives.

use std::collections::HashMap;
use std::sync::Arc;

use rhizome_node::PeerId;
use sha2::{Digest as _, Sha256};

/// Why a record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The key's namespace has no validator (and there is no default).
    #[error("no validator for namespace {0:?}")]
    UnknownNamespace(String),
    /// The key is malformed for its namespace.
    #[error("invalid key for its namespace")]
    InvalidKey,
    /// The value does not match the key.
    #[error("value does not match the key")]
    InvalidValue,
}

/// Checks records of one kind (`kad::Validator`).
pub trait Validator: Send + Sync + 'static {
    /// Whether `value` may be stored under `key`.
    fn validate(&self, key: &[u8], value: &[u8]) -> Result<(), ValidationError>;

    /// Of several valid values for `key`, the index of the best (default: the first).
    fn select(&self, _key: &[u8], _values: &[&[u8]]) -> usize {
        0
    }
}

/// Accepts every record (rust-libp2p's default).
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

impl Validator for AcceptAll {
    fn validate(&self, _key: &[u8], _value: &[u8]) -> Result<(), ValidationError> {
        Ok(())
    }
}

/// `/pk/<peer-id bytes>` records: the value must be the public key (protobuf
/// encoding) whose peer id is in the key. Checked by deriving the peer id from the
/// bytes (identity multihash up to 42 bytes, SHA-256 multihash above), so any key
/// type is accepted.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicKeyValidator;

impl Validator for PublicKeyValidator {
    fn validate(&self, key: &[u8], value: &[u8]) -> Result<(), ValidationError> {
        let id = key.strip_prefix(b"/pk/").ok_or(ValidationError::InvalidKey)?;
        let peer = PeerId::from_bytes(id).map_err(|_| ValidationError::InvalidKey)?;
        if value.is_empty() || peer_id_bytes_of_key(value) != peer.to_bytes() {
            return Err(ValidationError::InvalidValue);
        }
        Ok(())
    }
}

/// The peer-id multihash of a public key's protobuf encoding.
pub fn peer_id_bytes_of_key(encoded: &[u8]) -> Vec<u8> {
    if encoded.len() <= 42 {
        let mut out = vec![0x00, encoded.len() as u8];
        out.extend_from_slice(encoded);
        out
    } else {
        let mut out = vec![0x12, 0x20];
        out.extend_from_slice(&Sha256::digest(encoded));
        out
    }
}

/// Dispatches on the first path segment of the key (`/pk/…` → `pk`); keys outside
/// every registered namespace go to the default, if any.
#[derive(Clone)]
pub struct Namespaced {
    by_namespace: HashMap<String, Arc<dyn Validator>>,
    default: Option<Arc<dyn Validator>>,
}

impl std::fmt::Debug for Namespaced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.by_namespace.keys().collect();
        names.sort();
        f.debug_struct("Namespaced").field("namespaces", &names).field("default", &self.default.is_some()).finish()
    }
}

impl Default for Namespaced {
    /// `pk` checked by [`PublicKeyValidator`]; anything else accepted.
    fn default() -> Self {
        Self::empty().with("pk", PublicKeyValidator).with_default(AcceptAll)
    }
}

impl Namespaced {
    /// No namespaces, no default: every record refused (go-libp2p's strictness
    /// starts here, plus `pk` and `ipns`).
    pub fn empty() -> Self {
        Self { by_namespace: HashMap::new(), default: None }
    }

    /// Adds a validator for keys `/<namespace>/…`.
    pub fn with(mut self, namespace: &str, validator: impl Validator) -> Self {
        self.by_namespace.insert(namespace.to_owned(), Arc::new(validator));
        self
    }

    /// Sets the validator for keys in no registered namespace.
    pub fn with_default(mut self, validator: impl Validator) -> Self {
        self.default = Some(Arc::new(validator));
        self
    }

    fn pick(&self, key: &[u8]) -> Result<&Arc<dyn Validator>, ValidationError> {
        let namespace = key.strip_prefix(b"/").and_then(|rest| rest.split(|b| *b == b'/').next().filter(|_| rest.contains(&b'/')));
        let found = namespace.and_then(|ns| std::str::from_utf8(ns).ok()).and_then(|ns| self.by_namespace.get(ns));
        found.or(self.default.as_ref()).ok_or_else(|| {
            ValidationError::UnknownNamespace(namespace.map(|n| String::from_utf8_lossy(n).into_owned()).unwrap_or_default())
        })
    }
}

impl Validator for Namespaced {
    fn validate(&self, key: &[u8], value: &[u8]) -> Result<(), ValidationError> {
        self.pick(key)?.validate(key, value)
    }

    fn select(&self, key: &[u8], values: &[&[u8]]) -> usize {
        self.pick(key).map(|v| v.select(key, values)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_identity::KeypairExt as _;
    use rhizome_node::Keypair;

    #[test]
    fn pk_records() {
        let kp = Keypair::from_seed([7; 32]);
        let peer = kp.peer_id();
        let mut key = b"/pk/".to_vec();
        key.extend(peer.to_bytes());
        // An Ed25519 peer id is the identity multihash of the key protobuf: `00 24 <key>`.
        let value = peer.to_bytes()[2..].to_vec();
        let v = Namespaced::default();
        assert_eq!(v.validate(&key, &value), Ok(()));
        let other = Keypair::from_seed([8; 32]).peer_id().to_bytes()[2..].to_vec();
        assert_eq!(v.validate(&key, &other), Err(ValidationError::InvalidValue));
        assert_eq!(v.validate(b"/pk/garbage", &value), Err(ValidationError::InvalidKey));
        assert_eq!(v.validate(b"/pk/", b""), Err(ValidationError::InvalidKey));
        // Other keys: accepted by the default.
        assert_eq!(v.validate(b"hello", b"world"), Ok(()));
        assert_eq!(v.validate(b"/other/x", b"y"), Ok(()));
        let strict = Namespaced::empty().with("pk", PublicKeyValidator);
        assert!(matches!(strict.validate(b"/other/x", b"y"), Err(ValidationError::UnknownNamespace(n)) if n == "other"));
    }
}
