//! The sans-IO secret-stream core: header exchange and encrypted message frames.
//!
//! Wire (both directions, after a handshake):
//! ```text
//! header frame : 38 00 00 || stream_id(own role) (32) || secretstream header (24)
//! message frame: uint24_le(len(pt) + 17) || crypto_secretstream_xchacha20poly1305_push(pt, TAG_MESSAGE)
//! ```

use rand_core_06::{CryptoRng, OsRng, RngCore};
use zeroize::Zeroize;

use crate::crypto::stream_id;
use crate::error::StreamError;
use crate::frame::{FRAME_HEADER_LEN, FrameDecoder, MAX_FRAME_LEN, encode_frame_header};
use crate::noise::HandshakeResult;
use crate::secretstream::{self, State, TAG_FINAL, TAG_MESSAGE};

/// secretstream overhead per message: 1 encrypted tag byte + 16 MAC bytes.
pub const ABYTES: usize = secretstream::ABYTES;
/// Body length of the header frame: 32-byte stream id + 24-byte secretstream header.
pub const HEADER_FRAME_LEN: usize = 32 + secretstream::HEADER_LEN;
/// The largest plaintext one frame carries (2^24 − 1 − 17).
pub const MAX_PLAINTEXT_LEN: usize = MAX_FRAME_LEN - ABYTES;

/// What one frame body opened in place was (see [`Session::open_in_place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    /// The remote's header.
    Header,
    /// A message: the plaintext is `body[1..body.len() - 16]` (empty: a keep-alive).
    Message,
}

/// What one received frame was.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// The remote's header: its stream id checked, the decryptor initialised.
    Header,
    /// A non-empty message.
    Message(Vec<u8>),
    /// An empty message (a keep-alive); secret-stream with `keepAlive` drops these, and so do we.
    KeepAlive,
}

/// One side of a secret stream after the handshake: encrypts outgoing messages into
/// frames, decodes and decrypts incoming frames. No I/O.
///
/// Send [`Session::take_header`] before anything else; [`Session::encrypt`] prepends it
/// automatically if it has not been taken. After any error the session refuses all work
/// ([`StreamError::Closed`]): Node destroys the stream at the first bad frame.
pub struct Session {
    is_initiator: bool,
    hash: [u8; 64],
    public_key: [u8; 32],
    remote_public_key: [u8; 32],
    push: State,
    header: Option<[u8; FRAME_HEADER_LEN + HEADER_FRAME_LEN]>,
    expected_remote_id: [u8; 32],
    rx_key: [u8; 32],
    pull: Option<State>,
    decoder: FrameDecoder,
    failed: bool,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.rx_key.zeroize();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("is_initiator", &self.is_initiator)
            .field("remote_public_key", &crate::error::KeyHex(self.remote_public_key))
            .field("header_received", &self.pull.is_some())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session for the keys of a finished handshake, accepting frames of at most
    /// `max_frame_len` bytes.
    pub fn new(handshake: &HandshakeResult, max_frame_len: usize) -> Self {
        Self::with_rng(handshake, max_frame_len, OsRng)
    }

    pub(crate) fn with_rng(handshake: &HandshakeResult, max_frame_len: usize, mut rng: impl RngCore + CryptoRng) -> Self {
        let mut header = [0u8; secretstream::HEADER_LEN];
        rng.fill_bytes(&mut header);
        let push = State::new(&handshake.tx, &header);
        let mut frame = [0u8; FRAME_HEADER_LEN + HEADER_FRAME_LEN];
        frame[..3].copy_from_slice(&[HEADER_FRAME_LEN as u8, 0, 0]);
        frame[3..35].copy_from_slice(&stream_id(&handshake.hash, handshake.is_initiator));
        frame[35..].copy_from_slice(&header);
        Self {
            is_initiator: handshake.is_initiator,
            hash: handshake.hash,
            public_key: handshake.public_key,
            remote_public_key: handshake.remote_public_key,
            push,
            header: Some(frame),
            expected_remote_id: stream_id(&handshake.hash, !handshake.is_initiator),
            rx_key: *handshake.rx,
            pull: None,
            decoder: FrameDecoder::new(max_frame_len.max(HEADER_FRAME_LEN)),
            failed: false,
        }
    }

    /// Our header frame (59 bytes, prefix included), once; `None` after it was taken.
    pub fn take_header(&mut self) -> Option<[u8; FRAME_HEADER_LEN + HEADER_FRAME_LEN]> {
        self.header.take()
    }

    /// Appends one message frame for `plaintext` to `out` (after our header frame if it
    /// was not taken yet). An empty plaintext is a keep-alive.
    pub fn encrypt(&mut self, plaintext: &[u8], out: &mut Vec<u8>) -> Result<(), StreamError> {
        if self.failed {
            return Err(StreamError::Closed);
        }
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(StreamError::PlaintextTooLarge { len: plaintext.len(), max: MAX_PLAINTEXT_LEN });
        }
        if let Some(header) = self.header.take() {
            out.extend_from_slice(&header);
        }
        // In place at the end of `out`: prefix, tag byte, plaintext; then the MAC.
        out.reserve(FRAME_HEADER_LEN + plaintext.len() + ABYTES);
        out.extend_from_slice(&encode_frame_header(plaintext.len() + ABYTES)?);
        let start = out.len();
        out.push(TAG_MESSAGE);
        out.extend_from_slice(plaintext);
        let mac = self.push.push_in_place(TAG_MESSAGE, &mut out[start..]);
        out.extend_from_slice(&mac);
        Ok(())
    }

    /// Feeds received bytes: consumes up to the end of at most one frame and returns how
    /// many bytes were used and what the frame was, if one completed.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Incoming>), StreamError> {
        if self.failed {
            return Err(StreamError::Closed);
        }
        let (used, frame) = self.decoder.decode(input).inspect_err(|_| self.failed = true)?;
        match frame {
            None => Ok((used, None)),
            Some(frame) => Ok((used, Some(self.on_frame(frame)?))),
        }
    }

    /// Handles one whole frame body (without its prefix).
    pub fn on_frame(&mut self, frame: Vec<u8>) -> Result<Incoming, StreamError> {
        if self.failed {
            return Err(StreamError::Closed);
        }
        let result = self.on_frame_inner(frame);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn on_frame_inner(&mut self, mut frame: Vec<u8>) -> Result<Incoming, StreamError> {
        match self.open_in_place(&mut frame)? {
            Opened::Header => Ok(Incoming::Header),
            Opened::Message if frame.len() == ABYTES => Ok(Incoming::KeepAlive),
            Opened::Message => {
                frame.truncate(frame.len() - 16);
                frame.remove(0);
                Ok(Incoming::Message(frame))
            }
        }
    }

    /// Handles one whole frame body (without its prefix) in place: the header, or a
    /// message decrypted where it lies. Any error closes the session.
    pub(crate) fn open_in_place(&mut self, body: &mut [u8]) -> Result<Opened, StreamError> {
        if self.failed {
            return Err(StreamError::Closed);
        }
        let result = self.open_inner(body);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn open_inner(&mut self, body: &mut [u8]) -> Result<Opened, StreamError> {
        let Some(pull) = self.pull.as_mut() else {
            if body.len() != HEADER_FRAME_LEN {
                return Err(StreamError::BadHeaderLength { len: body.len() });
            }
            if body[..32] != self.expected_remote_id {
                return Err(StreamError::BadStreamId);
            }
            let mut header = [0u8; secretstream::HEADER_LEN];
            header.copy_from_slice(&body[32..]);
            self.pull = Some(State::new(&self.rx_key, &header));
            return Ok(Opened::Header);
        };
        if body.len() < ABYTES {
            return Err(StreamError::MessageTooShort { len: body.len() });
        }
        let tag = pull.pull_in_place(body).map_err(|_| StreamError::BadMac(chacha20poly1305::Error))?;
        match tag {
            // libsodium rekeys after FINAL and ends the stream; Node never sends it.
            TAG_FINAL => Err(StreamError::UnsupportedTag),
            // MESSAGE, PUSH and REKEY (the state already rekeyed) carry data alike.
            0..=2 => Ok(Opened::Message),
            _ => Err(StreamError::BadMac(chacha20poly1305::Error)),
        }
    }

    /// True when no partial frame is buffered.
    pub fn is_idle(&self) -> bool {
        self.decoder.is_idle()
    }

    /// Whether the remote's header has been received and checked.
    pub fn header_received(&self) -> bool {
        self.pull.is_some()
    }

    /// Whether we were the Noise initiator.
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }

    /// The 64-byte handshake hash.
    pub fn handshake_hash(&self) -> &[u8; 64] {
        &self.hash
    }

    /// Our static public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// The remote's static public key.
    pub fn remote_public_key(&self) -> &[u8; 32] {
        &self.remote_public_key
    }
}

#[cfg(test)]
pub(crate) mod tests;
