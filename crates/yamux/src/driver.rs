//! The task that owns a `yamux::Connection` and serves the `MuxControl` handles.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::Poll;

use futures::io::{AsyncRead as FuturesRead, AsyncWrite as FuturesWrite};
use rhizome_core::{BoxIo, MuxCommand, MuxDriverEnds, MuxError};
use tokio::sync::oneshot;
use tokio_util::compat::FuturesAsyncReadCompatExt as _;
use tracing::{debug, trace};

/// Outbound open requests waiting for the connection (beyond this, `open_stream`
/// fails at once).
const MAX_PENDING_OPENS: usize = 1024;

type OpenReply = oneshot::Sender<Result<BoxIo, MuxError>>;

fn boxed(stream: yamux::Stream) -> BoxIo {
    Box::new(stream.compat())
}

/// Drives `conn` until it ends, then marks the connection closed.
pub(crate) async fn drive<T>(mut conn: yamux::Connection<T>, mut ends: MuxDriverEnds)
where
    T: FuturesRead + FuturesWrite + Unpin + Send + 'static,
{
    let mut opens: VecDeque<OpenReply> = VecDeque::new();
    let mut closers: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closing = false;
    let result: Result<(), yamux::ConnectionError> = poll_fn(|cx| {
        // Commands from the handles.
        while !closing {
            match ends.commands.poll_recv(cx) {
                Poll::Ready(Some(MuxCommand::Open(reply))) if opens.len() < MAX_PENDING_OPENS => opens.push_back(reply),
                Poll::Ready(Some(MuxCommand::Open(reply))) => {
                    let _ = reply.send(Err(MuxError::Muxer("too many pending stream opens".into())));
                }
                Poll::Ready(Some(MuxCommand::Close(done))) => {
                    closers.push(done);
                    closing = true;
                }
                Poll::Ready(Some(_)) => {}
                // Every handle is gone: nobody can use this connection any more.
                Poll::Ready(None) => closing = true,
                Poll::Pending => break,
            }
        }
        if closing {
            return conn.poll_close(cx);
        }
        // Outbound opens, in order; skip requesters that gave up.
        while let Some(front) = opens.front() {
            if front.is_closed() {
                opens.pop_front();
                continue;
            }
            match conn.poll_new_outbound(cx) {
                Poll::Ready(Ok(stream)) => {
                    if let Some(reply) = opens.pop_front() {
                        let _ = reply.send(Ok(boxed(stream)));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        // Inbound streams; this also drives the connection's I/O.
        loop {
            match conn.poll_next_inbound(cx) {
                Poll::Ready(Some(Ok(stream))) => {
                    if let Err(e) = ends.inbound.try_send(boxed(stream)) {
                        // Dropping the stream resets it.
                        debug!(reason = %e, "yamux: inbound stream backlog full or closed, resetting stream");
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
    match &result {
        Ok(()) => trace!("yamux: connection closed"),
        Err(e) => debug!(error = %e, "yamux: connection ended with an error"),
    }
    for reply in opens {
        let _ = reply.send(Err(MuxError::Closed));
    }
    let _ = ends.closed.send(true);
    for done in closers {
        let _ = done.send(());
    }
}
