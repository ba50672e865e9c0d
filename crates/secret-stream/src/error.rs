//! Error types, one per operation family: the Noise state machine ([`NoiseError`]), the
//! encrypted stream after the handshake ([`StreamError`]), and opening a stream over a
//! byte pipe ([`HandshakeError`]).

use std::io;

/// A hex rendering of a public key for error messages (keys are public, never secrets).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHex(pub [u8; 32]);

impl std::fmt::Display for KeyHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for KeyHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A failure of the sans-IO Noise handshake ([`crate::noise::Handshake`]).
///
/// After any error the handshake is dead: every later call returns [`NoiseError::Failed`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum NoiseError {
    /// A remote Ed25519 point was non-canonical, of small order, outside the prime-order
    /// subgroup, or gave the identity (libsodium's `crypto_scalarmult_ed25519` rejects
    /// the same inputs).
    #[error("invalid remote Ed25519 public key")]
    InvalidPublicKey,
    /// The pattern needs the responder's static key in advance (IK initiator) and none was given.
    #[error("the pattern needs the remote static key in advance")]
    MissingRemoteStatic,
    /// A handshake message failed ChaCha20-Poly1305 authentication (tampered, replayed
    /// against another state, or encrypted to another key).
    #[error("handshake message failed authentication")]
    Decrypt(#[source] chacha20poly1305::Error),
    /// A message was shorter than its pattern requires.
    #[error("handshake message of {got} bytes is shorter than the {need} bytes the pattern needs")]
    MessageTooShort {
        /// Bytes the pattern needs at least.
        need: usize,
        /// Bytes received.
        got: usize,
    },
    /// A message would exceed Noise's 65,535-byte limit.
    #[error("handshake message of {len} bytes exceeds the Noise maximum of 65535")]
    MessageTooLarge {
        /// The message length.
        len: usize,
    },
    /// `write_message` when a read was due, `read_message` when a write was due, or
    /// either after the last message.
    #[error("handshake message out of order (expected a {expected})")]
    OutOfOrder {
        /// "read", "write" or "nothing (finished)".
        expected: &'static str,
    },
    /// `finish` before the last message.
    #[error("handshake is not finished")]
    NotFinished,
    /// An earlier call failed; the state was destroyed.
    #[error("handshake already failed")]
    Failed,
}

/// A failure of the encrypted stream: the remote misbehaved or the bytes were altered.
///
/// The stream is destroyed at the first such error, as Node's secret-stream destroys
/// itself. At the `AsyncRead`/`AsyncWrite` boundary it travels inside an
/// [`io::Error`] of kind `InvalidData`; get it back with [`StreamError::from_io`].
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A frame announced more bytes than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// Length announced by the uint24 prefix.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The first frame after the handshake was not 56 bytes (stream id + secretstream header).
    #[error("header frame of {len} bytes (expected 56)")]
    BadHeaderLength {
        /// The frame's length.
        len: usize,
    },
    /// The header's stream id is not the one derived from our handshake hash: the remote
    /// is on another handshake (or another stream).
    #[error("header stream id does not match the handshake")]
    BadStreamId,
    /// A message frame shorter than the 17 bytes of secretstream overhead.
    #[error("message frame of {len} bytes is shorter than the 17-byte minimum")]
    MessageTooShort {
        /// The frame's length.
        len: usize,
    },
    /// A message failed XChaCha20-Poly1305 authentication: a tampered, reordered,
    /// replayed or truncated ciphertext.
    #[error("message failed authentication (tampered, replayed or out of order)")]
    BadMac(#[source] chacha20poly1305::Error),
    /// A message carried secretstream's FINAL tag, which secret-stream never sends.
    #[error("message carries the unsupported secretstream FINAL tag")]
    UnsupportedTag,
    /// The pipe ended in the middle of a frame.
    #[error("the connection ended in the middle of a frame")]
    Truncated,
    /// A local write asked for more than one frame can carry.
    #[error("plaintext of {len} bytes does not fit one frame (max {max})")]
    PlaintextTooLarge {
        /// Requested length.
        len: usize,
        /// Largest plaintext per frame.
        max: usize,
    },
    /// The stream failed earlier (the first error was already returned).
    #[error("the stream failed earlier and is closed")]
    Closed,
}

impl NoiseError {
    /// A stable snake-case code for metrics labels and logs.
    pub fn code(&self) -> &'static str {
        match self {
            NoiseError::InvalidPublicKey => "invalid_public_key",
            NoiseError::MissingRemoteStatic => "missing_remote_static",
            NoiseError::Decrypt(_) => "decrypt",
            NoiseError::MessageTooShort { .. } => "message_too_short",
            NoiseError::MessageTooLarge { .. } => "message_too_large",
            NoiseError::OutOfOrder { .. } => "out_of_order",
            NoiseError::NotFinished => "not_finished",
            NoiseError::Failed => "failed",
        }
    }
}

impl StreamError {
    /// A stable snake-case code for metrics labels and logs.
    pub fn code(&self) -> &'static str {
        match self {
            StreamError::FrameTooLarge { .. } => "frame_too_large",
            StreamError::BadHeaderLength { .. } => "bad_header_length",
            StreamError::BadStreamId => "bad_stream_id",
            StreamError::MessageTooShort { .. } => "message_too_short",
            StreamError::BadMac(_) => "bad_mac",
            StreamError::UnsupportedTag => "unsupported_tag",
            StreamError::Truncated => "truncated",
            StreamError::PlaintextTooLarge { .. } => "plaintext_too_large",
            StreamError::Closed => "closed",
        }
    }

    /// The [`StreamError`] inside an I/O error returned by a [`crate::SecretStream`], if any.
    pub fn from_io(err: &io::Error) -> Option<&StreamError> {
        err.get_ref().and_then(|e| e.downcast_ref::<StreamError>())
    }

    pub(crate) fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// A failure while opening a [`crate::SecretStream`] over a byte pipe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The Noise handshake failed (bad MAC, invalid key, malformed message).
    #[error("Noise handshake failed")]
    Noise(#[from] NoiseError),
    /// The remote authenticated with a static key other than the one we expected.
    #[error("remote public key {actual} is not the expected {expected}")]
    WrongRemoteKey {
        /// The key we were told to expect.
        expected: KeyHex,
        /// The key the remote proved.
        actual: KeyHex,
    },
    /// A handshake frame was malformed (too large for a Noise message, or truncated).
    #[error("bad handshake frame")]
    Frame(#[source] StreamError),
    /// The pipe closed before the handshake finished (Node closes it when it rejects us).
    #[error("connection closed during the handshake")]
    Closed,
    /// The handshake did not finish within the configured time.
    #[error("handshake timed out")]
    Timeout,
    /// Reading or writing the pipe failed.
    #[error("I/O error during the handshake")]
    Io(#[from] io::Error),
}

impl HandshakeError {
    /// A stable snake-case code for metrics labels and logs.
    pub fn code(&self) -> &'static str {
        match self {
            HandshakeError::Noise(e) => e.code(),
            HandshakeError::WrongRemoteKey { .. } => "wrong_remote_key",
            HandshakeError::Frame(e) => e.code(),
            HandshakeError::Closed => "closed",
            HandshakeError::Timeout => "timeout",
            HandshakeError::Io(_) => "io",
        }
    }

    /// Whether the remote misbehaved (as opposed to a local failure or a timeout).
    pub fn is_remote_fault(&self) -> bool {
        matches!(self, HandshakeError::Noise(e) if !matches!(e, NoiseError::MissingRemoteStatic))
            || matches!(self, HandshakeError::WrongRemoteKey { .. } | HandshakeError::Frame(_) | HandshakeError::Closed)
    }
}
