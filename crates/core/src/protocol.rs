//! Protocol identifiers such as `/ipfs/ping/1.0.0`.

use std::fmt;
use std::sync::Arc;

/// The longest protocol id we accept, in bytes. Matches the multistream-select line
/// limit of go-libp2p and js-libp2p (1024 bytes including the newline).
pub const MAX_PROTOCOL_ID_LEN: usize = 1023;

/// A protocol identifier: UTF-8, starting with `/`, at most
/// [`MAX_PROTOCOL_ID_LEN`] bytes, without newlines.
///
/// Cheap to clone (an `Arc<str>` or a `&'static str`).
#[derive(Clone)]
pub struct ProtocolId(Repr);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Shared(Arc<str>),
}

/// A string that is not a valid protocol id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidProtocolId {
    /// Does not start with `/`.
    #[error("protocol id must start with '/'")]
    NoLeadingSlash,
    /// Longer than [`MAX_PROTOCOL_ID_LEN`].
    #[error("protocol id longer than {MAX_PROTOCOL_ID_LEN} bytes")]
    TooLong,
    /// Contains a `\n` or `\r`.
    #[error("protocol id contains a newline")]
    Newline,
}

fn validate(s: &str) -> Result<(), InvalidProtocolId> {
    if !s.starts_with('/') {
        return Err(InvalidProtocolId::NoLeadingSlash);
    }
    if s.len() > MAX_PROTOCOL_ID_LEN {
        return Err(InvalidProtocolId::TooLong);
    }
    if s.contains(['\n', '\r']) {
        return Err(InvalidProtocolId::Newline);
    }
    Ok(())
}

impl ProtocolId {
    /// A protocol id from a string literal; usable in `const` items, where an
    /// invalid id fails the build:
    ///
    /// ```
    /// use rhizome_core::ProtocolId;
    /// const ECHO: ProtocolId = ProtocolId::from_static("/echo/1.0.0");
    /// assert_eq!(ECHO.as_str(), "/echo/1.0.0");
    /// ```
    ///
    /// # Panics
    /// If `s` is not a valid protocol id (at compile time in a `const`): this is a
    /// programmer error in a constant.
    pub const fn from_static(s: &'static str) -> Self {
        let b = s.as_bytes();
        if b.is_empty() || b[0] != b'/' {
            panic!("invalid protocol id: must start with '/'");
        }
        if b.len() > MAX_PROTOCOL_ID_LEN {
            panic!("invalid protocol id: too long");
        }
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\n' || b[i] == b'\r' {
                panic!("invalid protocol id: contains a newline");
            }
            i += 1;
        }
        Self(Repr::Static(s))
    }

    /// A protocol id from any string, validated.
    pub fn new(s: impl AsRef<str>) -> Result<Self, InvalidProtocolId> {
        let s = s.as_ref();
        validate(s)?;
        Ok(Self(Repr::Shared(Arc::from(s))))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(s) => s,
            Repr::Shared(s) => s,
        }
    }
}

impl std::str::FromStr for ProtocolId {
    type Err = InvalidProtocolId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for ProtocolId {
    type Error = InvalidProtocolId;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for ProtocolId {
    type Error = InvalidProtocolId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<&String> for ProtocolId {
    type Error = InvalidProtocolId;
    fn try_from(s: &String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<&ProtocolId> for ProtocolId {
    fn from(p: &ProtocolId) -> Self {
        p.clone()
    }
}

impl AsRef<str> for ProtocolId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for ProtocolId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for ProtocolId {}
impl PartialEq<str> for ProtocolId {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for ProtocolId {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
impl std::hash::Hash for ProtocolId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}
impl PartialOrd for ProtocolId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ProtocolId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}
impl std::borrow::Borrow<str> for ProtocolId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}
impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl fmt::Debug for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(ProtocolId::new("/ipfs/ping/1.0.0").is_ok());
        assert_eq!(ProtocolId::new("ping"), Err(InvalidProtocolId::NoLeadingSlash));
        assert_eq!(ProtocolId::new("/a\nb"), Err(InvalidProtocolId::Newline));
        assert_eq!(ProtocolId::new(format!("/{}", "a".repeat(1023))), Err(InvalidProtocolId::TooLong));
        assert_eq!(ProtocolId::from_static("/x"), ProtocolId::new("/x").unwrap());
    }

    #[test]
    #[should_panic(expected = "invalid protocol id")]
    fn from_static_panics_on_invalid() {
        let _ = ProtocolId::from_static("no-slash");
    }
}
