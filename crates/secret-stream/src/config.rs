//! Options of a [`crate::SecretStream`], with secret-stream's defaults.

use std::time::Duration;

use crate::frame::MAX_FRAME_LEN;
use crate::noise::Pattern;

/// The default plaintext bytes per frame we send (64 KiB).
pub const DEFAULT_WRITE_CHUNK: usize = 64 * 1024;

/// Stream options. Defaults match `new NoiseSecretStream(isInitiator, raw)` with no options:
/// XX handshake, no remote key check, no keep-alive, frames up to the protocol maximum.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) pattern: Pattern,
    pub(crate) remote_public_key: Option<[u8; 32]>,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) max_frame_len: usize,
    pub(crate) write_chunk: usize,
    pub(crate) handshake_timeout: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pattern: Pattern::Xx,
            remote_public_key: None,
            keep_alive: None,
            max_frame_len: MAX_FRAME_LEN,
            write_chunk: DEFAULT_WRITE_CHUNK,
            handshake_timeout: None,
        }
    }
}

impl Config {
    /// The handshake pattern when the stream runs it itself (secret-stream's `pattern`
    /// option; default XX). IK needs [`Config::remote_public_key`] on the initiator.
    pub fn pattern(mut self, pattern: Pattern) -> Self {
        self.pattern = pattern;
        self
    }

    /// The remote static key we expect (secret-stream's `remotePublicKey`). With IK the
    /// initiator encrypts to it; with either pattern we check the authenticated key
    /// against it and fail with [`crate::HandshakeError::WrongRemoteKey`]. (Node's XX does
    /// not check it; we do.)
    pub fn remote_public_key(mut self, key: Option<[u8; 32]>) -> Self {
        self.remote_public_key = key;
        self
    }

    /// Send an empty message after this long without writes (secret-stream's `keepAlive`;
    /// default off, hyperdht uses 5 s). Received empty messages are always dropped.
    /// Timers run while the stream is being polled (read, written or flushed).
    pub fn keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive = interval;
        self
    }

    /// The largest frame body we accept (default and cap: [`MAX_FRAME_LEN`], 2^24 − 1,
    /// which is what Node may send). Memory per stream is bounded by this plus the
    /// write buffer.
    pub fn max_frame_len(mut self, len: usize) -> Self {
        self.max_frame_len = len.min(MAX_FRAME_LEN);
        self
    }

    /// Plaintext bytes per frame we send (default [`DEFAULT_WRITE_CHUNK`], at least 1,
    /// at most [`crate::MAX_PLAINTEXT_LEN`]).
    pub fn write_chunk(mut self, len: usize) -> Self {
        self.write_chunk = len.clamp(1, crate::MAX_PLAINTEXT_LEN);
        self
    }

    /// Give up on a handshake run over the pipe after this long (default none, like Node).
    pub fn handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}
