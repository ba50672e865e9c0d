//! Hyperswarm's encrypted stream, byte for byte with Node's `@hyperswarm/secret-stream`
//! 6.9 and `noise-handshake` 4.2 / `noise-curve-ed` 2.1.
//!
//! - [`noise`]: a sans-IO Noise state machine for `Noise_IK_Ed25519_ChaChaPoly_BLAKE2b`
//!   (hyperdht's relayed handshake, prologue [`NS_PEER_HANDSHAKE`]) and
//!   `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` (secret-stream's own handshake, empty prologue).
//! - [`Session`]: the sans-IO secret-stream core. It makes our header frame (stream id
//!   derived from the handshake hash + libsodium `crypto_secretstream_xchacha20poly1305`
//!   header), checks the remote's, and encrypts/decrypts uint24-LE-framed messages.
//!   [`FrameDecoder`] reassembles frames with a bounded buffer.
//! - [`SecretStream`]: a tokio shell over any `AsyncRead + AsyncWrite` pipe (TCP today,
//!   UDX later) implementing `AsyncRead + AsyncWrite`. Open it with
//!   [`SecretStream::with_handshake`] after a handshake done elsewhere (how hyperdht uses
//!   it) or with [`SecretStream::handshake`], which runs XX (or IK, given the remote key and
//!   [`noise::Pattern::Ik`]) over the pipe first.
//!
//! Limits: a frame carries at most [`MAX_FRAME_LEN`] (2^24 − 1) bytes; the decoder's
//! maximum is configurable ([`Config::max_frame_len`], default the protocol maximum, the
//! buffer grows only as bytes arrive); handshake frames are capped at
//! [`noise::MAX_MESSAGE_LEN`] (65,535). Keep-alives (empty messages) are sent after
//! [`Config::keep_alive`] of write silence when set (hyperdht uses 5 s) and always dropped
//! on receipt. Closing the write half ends the pipe's write half, as Node's `end()` does.
//!
//! Not here: secret-stream's unordered datagrams (`send`/`trySend`, UDX only) and its idle
//! `setTimeout`. Spec notes and vectors: `specs/secret-stream.md`.
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod config;
mod crypto;
mod error;
mod frame;
mod keypair;
pub mod noise;
mod open;
mod session;
#[cfg(test)]
mod spec_tests;
mod stream;

pub use config::{Config, DEFAULT_WRITE_CHUNK};
pub use crypto::{NS_INITIATOR, NS_PEER_HANDSHAKE, NS_RESPONDER, NS_SEND, stream_id};
pub use error::{HandshakeError, KeyHex, NoiseError, StreamError};
pub use frame::{FRAME_HEADER_LEN, FrameDecoder, MAX_FRAME_LEN, encode_frame_header};
pub use keypair::Keypair;
pub use session::{ABYTES, HEADER_FRAME_LEN, Incoming, MAX_PLAINTEXT_LEN, Session};
pub use stream::SecretStream;
