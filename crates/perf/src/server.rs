//! The perf server: a handler on the node.

use rhizome_node::{HandlerOpts, Node, PeerId, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::broadcast;
use tracing::debug;

use crate::{CHUNK, PROTOCOL};

/// Server settings.
///
/// | setting | default |
/// |---|---|
/// | `max_download` (bytes a client may ask for on one stream) | 1 TiB |
/// | `max_streams` (concurrent perf streams per connection) | 16 |
/// | `event_capacity` (reports buffered per [`Server::subscribe`] receiver) | 64 |
#[derive(Debug, Clone)]
pub struct Config {
    /// The most bytes we send back on one stream; a larger request resets the stream.
    pub max_download: u64,
    /// Concurrent perf streams per connection.
    pub max_streams: usize,
    /// Reports a slow subscriber may fall behind by before it sees `Lagged`.
    pub event_capacity: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_download: 1 << 40, max_streams: 16, event_capacity: 64 }
    }
}

/// One perf stream the server completed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// The client.
    pub peer: PeerId,
    /// Upload bytes received (the 8-byte length header not counted).
    pub received: u64,
    /// Download bytes sent.
    pub sent: u64,
}

/// The running server: a handle to its reports. Dropping it does not stop serving.
#[derive(Debug, Clone)]
pub struct Server {
    events: broadcast::Sender<Served>,
}

impl Server {
    /// A receiver of one [`Served`] per completed stream, from now on (bounded: a
    /// receiver that falls behind by `event_capacity` sees `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<Served> {
        self.events.subscribe()
    }
}

/// Serves `/perf/1.0.0` on `node`.
pub fn serve(node: &Node, config: &Config) -> Server {
    let max_download = config.max_download;
    let opts = HandlerOpts { max_inbound_streams: Some(config.max_streams) };
    let (events, _) = broadcast::channel(config.event_capacity.max(1));
    let server = Server { events: events.clone() };
    node.handle_with(
        PROTOCOL,
        move |stream: Stream, ctx: StreamCtx| {
            let events = events.clone();
            async move {
                match respond(stream, max_download).await {
                    Ok((received, sent)) => {
                        debug!(peer = %ctx.peer, received, sent, "perf stream served");
                        // No subscriber is not an error.
                        let _ = events.send(Served { peer: ctx.peer, received, sent });
                        Ok(())
                    }
                    Err(e) => {
                        debug!(peer = %ctx.peer, error = %e, "perf stream failed");
                        Err(e)
                    }
                }
            }
        },
        opts,
    );
    server
}

/// Serves one stream; returns (upload bytes received, download bytes sent).
async fn respond(mut stream: Stream, max_download: u64) -> std::io::Result<(u64, u64)> {
    let to_send = stream.read_u64().await?;
    if to_send > max_download {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("asked for {to_send} bytes, at most {max_download}")));
    }
    let mut buf = vec![0u8; CHUNK];
    let received = crate::count_until_eof(&mut stream, &mut buf, u64::MAX).await?;
    crate::write_zeros(&mut stream, &mut buf, to_send).await?;
    stream.shutdown().await?;
    Ok((received, to_send))
}
