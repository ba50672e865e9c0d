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
use std::sync::OnceLock;

use rhizome_identity::{Keypair, PeerId};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tracing::trace;

use crate::buffer::ReadBuffer;
use crate::cipher::Transport;
use crate::stream::NoiseStream;
use crate::{Error, MAX_FRAME_LEN, payload};

/// The Noise protocol name libp2p uses.
pub const PROTOCOL_NAME: &str = "Noise_XX_25519_ChaChaPoly_SHA256";

fn params() -> Result<snow::params::NoiseParams, Error> {
    static PARAMS: OnceLock<snow::params::NoiseParams> = OnceLock::new();
    if let Some(p) = PARAMS.get() {
        return Ok(p.clone());
    }
    let parsed: snow::params::NoiseParams = PROTOCOL_NAME.parse()?;
    Ok(PARAMS.get_or_init(|| parsed).clone())
}

/// A builder for a handshake with our static key (its public half known).
fn builder<'a>(prologue: &'a [u8], local: &'a LocalKeys) -> Result<snow::Builder<'a>, Error> {
    let resolver = crate::resolver::Resolver::new(local.loaded.clone());
    Ok(snow::Builder::with_resolver(params()?, Box::new(resolver)).prologue(prologue)?.local_private_key(&local.private)?)
}

/// Our side of a handshake: an X25519 static key and the libp2p payload that signs
/// it. The payload depends only on the two keys, so a node makes this once and
/// reuses it for every handshake (as rust-libp2p does), saving an X25519 key
/// generation and an identity signature per connection.
pub(crate) struct LocalKeys {
    private: [u8; 32],
    /// The static key loaded for agreements.
    loaded: Option<crate::resolver::Known>,
    payload: Vec<u8>,
    /// Remote payloads already verified.
    verified: payload::Verified,
}

impl Drop for LocalKeys {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.private);
    }
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys").finish_non_exhaustive()
    }
}

impl LocalKeys {
    /// A fresh static key, signed by `identity`.
    pub(crate) fn generate(identity: &Keypair) -> Result<Self, Error> {
        let mut key = snow::Builder::new(params()?).generate_keypair()?;
        let private: [u8; 32] = key.private[..].try_into().map_err(|_| Error::Cipher)?;
        let public: [u8; 32] = key.public[..].try_into().map_err(|_| Error::Cipher)?;
        zeroize::Zeroize::zeroize(&mut key.private);
        let payload = payload::encode(identity, &public)?;
        let loaded = crate::resolver::Known::new(private, public);
        Ok(Self { private, loaded, payload, verified: payload::Verified::default() })
    }
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

    /// Encodes the next handshake message, length prefix included.
    fn encode_message(&mut self, hs: &mut snow::HandshakeState, payload: &[u8]) -> Result<&[u8], Error> {
        // A handshake message is its payload plus at most two keys and two tags.
        let room = (payload.len() + 2 * 32 + 2 * crate::TAG_LEN).min(MAX_FRAME_LEN);
        self.scratch.resize(2 + room, 0);
        let n = hs.write_message(payload, &mut self.scratch[2..])?;
        let len = u16::try_from(n).map_err(|_| Error::MessageTooLarge(n))?;
        self.scratch[..2].copy_from_slice(&len.to_be_bytes());
        self.scratch.truncate(2 + n);
        Ok(&self.scratch)
    }

    async fn write_message(&mut self, hs: &mut snow::HandshakeState, payload: &[u8]) -> Result<(), Error> {
        self.encode_message(hs, payload)?;
        let Self { io, scratch, .. } = self;
        io.write_all(scratch).await?;
        io.flush().await?;
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
    handshake_outbound_with(io, &LocalKeys::generate(identity)?, expected, prologue, false).await
}

/// [`handshake_outbound`] with our keys made beforehand. With `defer_message_3`,
/// message 3 is left in the returned stream, to leave with its first flush (or
/// before its first read that waits): the caller must then write or read.
pub(crate) async fn handshake_outbound_with<IO>(
    io: IO,
    local: &LocalKeys,
    expected: Option<PeerId>,
    prologue: &[u8],
    defer_message_3: bool,
) -> Result<(PeerId, NoiseStream<IO>), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut hs = builder(prologue, local)?.build_initiator()?;
    let mut framed = Framed { io, rx: ReadBuffer::default(), scratch: Vec::new() };

    framed.write_message(&mut hs, &[]).await?;
    trace!("noise: sent message 1");
    let theirs = framed.read_message(&mut hs).await?;
    let remote = local.verified.verify(&theirs, &remote_static(&hs)?)?;
    check_expected(remote, expected)?;
    trace!(%remote, "noise: verified message 2");
    if defer_message_3 {
        // Message 3 is not flushed here: it leaves with the first transport frame
        // (the multistream proposal that follows), one segment instead of two, or
        // before the first read that waits for the responder.
        framed.encode_message(&mut hs, &local.payload)?;
        trace!("noise: message 3 ready");
    } else {
        framed.write_message(&mut hs, &local.payload).await?;
        framed.scratch.clear();
        trace!("noise: sent message 3");
    }

    let transport = Transport::split(hs)?;
    Ok((remote, NoiseStream::new(framed.io, transport, framed.rx).with_pending(&framed.scratch)))
}

/// Runs the handshake as the responder (listener).
pub async fn handshake_inbound<IO>(io: IO, identity: &Keypair, prologue: &[u8]) -> Result<(PeerId, NoiseStream<IO>), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    handshake_inbound_with(io, &LocalKeys::generate(identity)?, prologue).await
}

/// [`handshake_inbound`] with our keys made beforehand.
pub(crate) async fn handshake_inbound_with<IO>(io: IO, local: &LocalKeys, prologue: &[u8]) -> Result<(PeerId, NoiseStream<IO>), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut hs = builder(prologue, local)?.build_responder()?;
    let mut framed = Framed { io, rx: ReadBuffer::default(), scratch: Vec::new() };

    // Message 1 carries only the initiator's ephemeral key: a payload there is a
    // protocol violation (and would be unauthenticated data), so it is refused.
    let first = framed.read_message(&mut hs).await?;
    if !first.is_empty() {
        return Err(Error::UnexpectedPayload(first.len()));
    }
    trace!("noise: received message 1");
    framed.write_message(&mut hs, &local.payload).await?;
    trace!("noise: sent message 2");
    let theirs = framed.read_message(&mut hs).await?;
    let remote = local.verified.verify(&theirs, &remote_static(&hs)?)?;
    trace!(%remote, "noise: verified message 3");

    let transport = Transport::split(hs)?;
    Ok((remote, NoiseStream::new(framed.io, transport, framed.rx)))
}
