//! The XX handshake with the libp2p payload.
//!
//! ```text
//! initiator                                   responder
//!   -> e                      (payload empty)
//!   <- e, ee, s, es           (payload: identity key + sig over responder static key)
//!   -> s, se                  (payload: identity key + sig over initiator static key)
//! ```
//! The initiator checks the responder's identity (and the expected peer id) as soon as
//! message 2 arrives, before revealing its own identity in message 3.

use std::future::poll_fn;

use rhizome_identity::{Keypair, PeerId};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tracing::trace;

use crate::buffer::ReadBuffer;
use crate::cipher::Transport;
use crate::stream::NoiseStream;
use crate::{Error, MAX_FRAME_LEN, payload};

/// The Noise protocol name libp2p uses.
pub const PROTOCOL_NAME: &str = "Noise_XX_25519_ChaChaPoly_SHA256";

fn builder<'a>(prologue: &'a [u8]) -> Result<snow::Builder<'a>, Error> {
    let params: snow::params::NoiseParams = PROTOCOL_NAME.parse()?;
    Ok(snow::Builder::new(params).prologue(prologue)?)
}

/// A fresh X25519 static key for this handshake (never stored).
fn static_keypair(prologue: &[u8]) -> Result<snow::Keypair, Error> {
    Ok(builder(prologue)?.generate_keypair()?)
}

struct Framed<IO> {
    io: IO,
    rx: ReadBuffer,
    scratch: Vec<u8>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> Framed<IO> {
    async fn read_message(&mut self, hs: &mut snow::HandshakeState) -> Result<Vec<u8>, Error> {
        loop {
            if let Some(frame) = self.rx.next_frame() {
                let mut payload = vec![0u8; frame.len()];
                let n = hs.read_message(&self.rx.bytes()[frame], &mut payload)?;
                payload.truncate(n);
                return Ok(payload);
            }
            if poll_fn(|cx| self.rx.poll_fill(&mut self.io, cx)).await? == 0 {
                return Err(Error::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    async fn write_message(&mut self, hs: &mut snow::HandshakeState, payload: &[u8]) -> Result<(), Error> {
        self.scratch.resize(2 + MAX_FRAME_LEN, 0);
        let n = hs.write_message(payload, &mut self.scratch[2..])?;
        let len = u16::try_from(n).map_err(|_| Error::MessageTooLarge(n))?;
        self.scratch[..2].copy_from_slice(&len.to_be_bytes());
        self.io.write_all(&self.scratch[..2 + n]).await?;
        self.io.flush().await?;
        Ok(())
    }
}

fn remote_static(hs: &snow::HandshakeState) -> Result<Vec<u8>, Error> {
    hs.get_remote_static().map(<[u8]>::to_vec).ok_or(Error::MissingIdentity)
}

fn check_expected(actual: PeerId, expected: Option<PeerId>) -> Result<(), Error> {
    match expected {
        Some(expected) if expected != actual => Err(Error::WrongPeer { expected, actual }),
        _ => Ok(()),
    }
}

/// Runs the handshake as the initiator (dialer).
pub async fn handshake_outbound<IO>(
    io: IO,
    identity: &Keypair,
    expected: Option<PeerId>,
    prologue: &[u8],
) -> Result<(PeerId, NoiseStream<IO>), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let local = static_keypair(prologue)?;
    let mut hs = builder(prologue)?.local_private_key(&local.private)?.build_initiator()?;
    let mut framed = Framed { io, rx: ReadBuffer::default(), scratch: Vec::new() };

    framed.write_message(&mut hs, &[]).await?;
    trace!("noise: sent message 1");
    let theirs = framed.read_message(&mut hs).await?;
    let remote = payload::verify(&theirs, &remote_static(&hs)?)?;
    check_expected(remote, expected)?;
    trace!(%remote, "noise: verified message 2");
    framed.write_message(&mut hs, &payload::encode(identity, &local.public)?).await?;
    trace!("noise: sent message 3");

    let transport = Transport::split(hs)?;
    Ok((remote, NoiseStream::new(framed.io, transport, framed.rx)))
}

/// Runs the handshake as the responder (listener).
pub async fn handshake_inbound<IO>(io: IO, identity: &Keypair, prologue: &[u8]) -> Result<(PeerId, NoiseStream<IO>), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let local = static_keypair(prologue)?;
    let mut hs = builder(prologue)?.local_private_key(&local.private)?.build_responder()?;
    let mut framed = Framed { io, rx: ReadBuffer::default(), scratch: Vec::new() };

    // Message 1 carries only the initiator's ephemeral key: a payload there is a
    // protocol violation (and would be unauthenticated data), so it is refused.
    let first = framed.read_message(&mut hs).await?;
    if !first.is_empty() {
        return Err(Error::UnexpectedPayload(first.len()));
    }
    trace!("noise: received message 1");
    framed.write_message(&mut hs, &payload::encode(identity, &local.public)?).await?;
    trace!("noise: sent message 2");
    let theirs = framed.read_message(&mut hs).await?;
    let remote = payload::verify(&theirs, &remote_static(&hs)?)?;
    trace!(%remote, "noise: verified message 3");

    let transport = Transport::split(hs)?;
    Ok((remote, NoiseStream::new(framed.io, transport, framed.rx)))
}
