//! The task that owns a `yamux::Connection` and serves the `MuxControl` handles.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use futures::io::{AsyncRead as FuturesRead, AsyncWrite as FuturesWrite};
use rhizome_core::{IncomingStream, MuxCommand, MuxDriverEnds, MuxError, OpenReply};
use tokio::sync::oneshot;
use tracing::{debug, trace};

use super::counted::Counted;
use super::violation::Violation;

/// Outbound open requests waiting for the connection (beyond this, `open_stream`
/// fails at once).
const MAX_PENDING_OPENS: usize = 1024;
/// How long a graceful close (GoAway, flush) may take before the socket is dropped.
use crate::CLOSE_DEADLINE;

/// Drives `conn` until it ends, then marks the connection closed. `max_streams` is
/// the limit on live stream handles (both directions) for outbound opens.
pub(crate) async fn drive<T>(mut conn: yamux::Connection<T>, mut ends: MuxDriverEnds, max_streams: usize, violation: Arc<Violation>)
where
    T: FuturesRead + FuturesWrite + Unpin + Send + 'static,
{
    let live = Arc::new(AtomicUsize::new(0));
    let mut opens: VecDeque<OpenReply> = VecDeque::new();
    let mut closers: Vec<oneshot::Sender<()>> = Vec::new();
    let mut close_deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    let result: Result<(), yamux::ConnectionError> = poll_fn(|cx| {
        // The crate answered a violation by the remote with an error GoAway but would
        // keep serving the connection: end it (once, at debug: the remote's fault).
        if let Poll::Ready(code) = violation.poll(cx) {
            debug!(code, "yamux: remote violated the protocol; closing the connection");
            return Poll::Ready(Ok(()));
        }
        // Commands from the handles.
        while close_deadline.is_none() {
            match ends.commands.poll_recv(cx) {
                Poll::Ready(Some(MuxCommand::Open { protocol: Some(_), reply })) => {
                    // yamux streams are anonymous: their protocol is negotiated on them.
                    let _ = reply.send(Err(MuxError::NotSupported));
                }
                Poll::Ready(Some(MuxCommand::Open { reply, .. })) if opens.len() < MAX_PENDING_OPENS => opens.push_back(reply),
                Poll::Ready(Some(MuxCommand::Open { reply, .. })) => {
                    let _ = reply.send(Err(MuxError::Muxer("too many pending stream opens".into())));
                }
                Poll::Ready(Some(MuxCommand::Close(done))) => {
                    closers.push(done);
                    close_deadline = Some(Box::pin(tokio::time::sleep(CLOSE_DEADLINE)));
                }
                Poll::Ready(Some(_)) => {}
                // Every handle is gone: nobody can use this connection any more.
                Poll::Ready(None) => close_deadline = Some(Box::pin(tokio::time::sleep(CLOSE_DEADLINE))),
                Poll::Pending => break,
            }
        }
        if let Some(deadline) = close_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                debug!("yamux: graceful close timed out, dropping the connection");
                return Poll::Ready(Ok(()));
            }
            return conn.poll_close(cx);
        }
        loop {
            // Inbound first: this drives the I/O and lets the crate forget dropped
            // streams, so its own stream count matches `live` before we open more.
            loop {
                match conn.poll_next_inbound(cx) {
                    Poll::Ready(Some(Ok(stream))) => {
                        if let Err(e) = ends.inbound.try_send(IncomingStream::anonymous(Box::new(Counted::new(stream, &live)))) {
                            // Dropping the stream resets it.
                            debug!(reason = %e, "yamux: inbound stream backlog full or closed, resetting stream");
                        }
                    }
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => break,
                }
            }
            // Outbound opens, in order; skip requesters that gave up.
            let mut opened = false;
            while let Some(front) = opens.front() {
                if front.is_closed() {
                    opens.pop_front();
                    continue;
                }
                if live.load(Ordering::Acquire) >= max_streams {
                    if let Some(reply) = opens.pop_front() {
                        let _ = reply.send(Err(MuxError::TooManyStreams { limit: max_streams }));
                    }
                    continue;
                }
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(Ok(stream)) => {
                        opened = true;
                        if let Some(reply) = opens.pop_front() {
                            let _ = reply.send(Ok(Box::new(Counted::new(stream, &live))));
                        }
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            // A new stream's channel is only watched once the connection is polled
            // again: without this, its first write could wait for unrelated traffic.
            if !opened {
                return Poll::Pending;
            }
        }
    })
    .await;
    match &result {
        Ok(()) => trace!("yamux: connection closed"),
        Err(e) => debug!(error = %e, "yamux: connection ended with an error"),
    }
    drop(conn);
    for reply in opens {
        let _ = reply.send(Err(MuxError::Closed));
    }
    let _ = ends.closed.send(true);
    for done in closers {
        let _ = done.send(());
    }
}
