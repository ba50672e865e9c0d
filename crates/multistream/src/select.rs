//! The async shell: run a [`Dialer`] or [`Listener`] over a byte pipe.

use bytes::BytesMut;
use rhizome_core::ProtocolId;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::error::NegotiationError;
use crate::machine::{Dialer, Listener, Progress, ProtocolSet};
use crate::negotiated::Negotiated;

/// How the dialer negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Version {
    /// Wait for the listener's echo before returning.
    #[default]
    V1,
    /// With exactly one protocol, assume it is accepted: return at once and send the
    /// header and proposal with the first application bytes (0 RTT). The echo is
    /// checked before the first read returns. Same bytes on the wire as `V1`.
    V1Lazy,
}

/// Negotiates one of `protocols` (in order of preference) as the dialer.
pub async fn dialer_select<IO>(
    mut io: IO,
    protocols: Vec<ProtocolId>,
    version: Version,
) -> Result<(ProtocolId, Negotiated<IO>), NegotiationError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut dialer = Dialer::new(protocols);
    if version == Version::V1Lazy && dialer.current().is_some() && !has_second(&dialer) {
        let chosen = dialer.current().cloned().ok_or(NegotiationError::Failed)?;
        let pending = dialer.take_output();
        return Ok((chosen, Negotiated::expecting(io, dialer, pending)));
    }
    let mut input = BytesMut::with_capacity(256);
    loop {
        if dialer.has_output() {
            io.write_all(&dialer.take_output()).await?;
            io.flush().await?;
        }
        if let Progress::Done(p) = dialer.handle(&mut input)? {
            return Ok((p, Negotiated::completed(io, input, Vec::new())));
        }
        if dialer.has_output() {
            continue;
        }
        if io.read_buf(&mut input).await? == 0 {
            return Err(NegotiationError::Failed);
        }
    }
}

fn has_second(dialer: &Dialer) -> bool {
    dialer.remaining() > 0
}

/// Negotiates as the listener, accepting the first proposal found in `supported`.
///
/// The header and the echo are written before returning, so a dialer waiting for the
/// echo is never stalled by a handler that has not written yet.
pub async fn listener_select<IO, S>(io: IO, supported: &S) -> Result<(ProtocolId, Negotiated<IO>), NegotiationError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: ProtocolSet + ?Sized,
{
    listener_select_inner(io, supported, false).await
}

/// Like [`listener_select`], but the final header and echo are not written before
/// returning: they leave with the first bytes written on the returned pipe (one
/// segment for the echo and, say, Noise message 2), or before a read that waits for
/// input. For protocols whose listener surely writes or reads next (security and
/// muxer upgrades), never for application handlers that might do neither.
pub async fn listener_select_deferred<IO, S>(io: IO, supported: &S) -> Result<(ProtocolId, Negotiated<IO>), NegotiationError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: ProtocolSet + ?Sized,
{
    listener_select_inner(io, supported, true).await
}

async fn listener_select_inner<IO, S>(mut io: IO, supported: &S, defer: bool) -> Result<(ProtocolId, Negotiated<IO>), NegotiationError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    S: ProtocolSet + ?Sized,
{
    let mut listener = Listener::new();
    let mut input = BytesMut::with_capacity(256);
    loop {
        match listener.handle(&mut input, supported)? {
            Progress::Done(p) if defer => return Ok((p, Negotiated::completed(io, input, listener.take_output()))),
            Progress::Done(p) => {
                io.write_all(&listener.take_output()).await?;
                io.flush().await?;
                return Ok((p, Negotiated::completed(io, input, Vec::new())));
            }
            Progress::NeedInput => {
                let out = listener.take_output();
                if !out.is_empty() {
                    io.write_all(&out).await?;
                    io.flush().await?;
                }
            }
        }
        if io.read_buf(&mut input).await? == 0 {
            return Err(NegotiationError::Failed);
        }
    }
}
