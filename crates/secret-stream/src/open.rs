//! Opening a [`SecretStream`] by running the Noise handshake over the pipe itself
//! (secret-stream without `opts.handshake`): each handshake message is one uint24 frame
//! with an empty payload and an empty prologue.

use std::future::poll_fn;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::config::Config;
use crate::error::{HandshakeError, KeyHex};
use crate::frame::{FrameDecoder, encode_frame_header};
use crate::keypair::Keypair;
use crate::noise::{Handshake, HandshakeResult, MAX_MESSAGE_LEN};
use crate::stream::{RawBuf, SecretStream};

impl<IO: AsyncRead + AsyncWrite + Unpin> SecretStream<IO> {
    /// Runs the handshake over `io` (XX by default; IK with [`Config::pattern`] and, on the
    /// initiator, [`Config::remote_public_key`]), then returns the stream with our header
    /// queued. Fails with [`HandshakeError::WrongRemoteKey`] as soon as the remote proves a
    /// key other than [`Config::remote_public_key`].
    pub async fn handshake(io: IO, is_initiator: bool, keypair: Keypair, config: &Config) -> Result<Self, HandshakeError> {
        match config.handshake_timeout {
            None => Self::handshake_inner(io, is_initiator, keypair, config).await,
            Some(t) => tokio::time::timeout(t, Self::handshake_inner(io, is_initiator, keypair, config))
                .await
                .map_err(|_| HandshakeError::Timeout)?,
        }
    }

    async fn handshake_inner(mut io: IO, is_initiator: bool, keypair: Keypair, config: &Config) -> Result<Self, HandshakeError> {
        let mut hs = Handshake::new(config.pattern, is_initiator, keypair, &[], config.remote_public_key)?;
        let mut raw = RawBuf::new();
        let mut decoder = FrameDecoder::new(MAX_MESSAGE_LEN);
        while !hs.is_finished() {
            if hs.is_write_turn() {
                let msg = hs.write_message(&[])?;
                let mut frame = encode_frame_header(msg.len()).map_err(HandshakeError::Frame)?.to_vec();
                frame.extend_from_slice(&msg);
                io.write_all(&frame).await?;
                io.flush().await?;
                tracing::trace!(len = msg.len(), "noise message sent");
            } else {
                let msg = read_frame(&mut io, &mut raw, &mut decoder).await?;
                hs.read_message(&msg)?;
                tracing::trace!(len = msg.len(), "noise message received");
                check_remote(&hs, config)?;
            }
        }
        let result: HandshakeResult = hs.finish()?;
        Ok(Self::from_parts(io, &result, config, raw))
    }
}

fn check_remote(hs: &Handshake, config: &Config) -> Result<(), HandshakeError> {
    match (config.remote_public_key, hs.remote_static()) {
        (Some(expected), Some(actual)) if expected != actual => {
            Err(HandshakeError::WrongRemoteKey { expected: KeyHex(expected), actual: KeyHex(actual) })
        }
        _ => Ok(()),
    }
}

/// Reads one whole frame, leaving any bytes after it in `raw` for the stream.
async fn read_frame<IO: AsyncRead + Unpin>(io: &mut IO, raw: &mut RawBuf, decoder: &mut FrameDecoder) -> Result<Vec<u8>, HandshakeError> {
    loop {
        if !raw.pending().is_empty() {
            let (used, frame) = decoder.decode(raw.pending()).map_err(HandshakeError::Frame)?;
            raw.pos += used;
            if let Some(frame) = frame {
                return Ok(frame);
            }
            continue;
        }
        let n = poll_fn(|cx| raw.poll_fill(io, cx)).await?;
        if n == 0 {
            return Err(HandshakeError::Closed);
        }
    }
}
