//! The perf server: a handler on the node.

use rhizome_node::{HandlerOpts, Node, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing::debug;

use crate::{CHUNK, PROTOCOL};

/// Server settings.
///
/// | setting | default |
/// |---|---|
/// | `max_download` (bytes a client may ask for on one stream) | 1 TiB |
/// | `max_streams` (concurrent perf streams per connection) | 16 |
#[derive(Debug, Clone)]
pub struct Config {
    /// The most bytes we send back on one stream; a larger request resets the stream.
    pub max_download: u64,
    /// Concurrent perf streams per connection.
    pub max_streams: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_download: 1 << 40, max_streams: 16 }
    }
}

/// Serves `/perf/1.0.0` on `node`.
pub fn serve(node: &Node, config: &Config) {
    let max_download = config.max_download;
    let opts = HandlerOpts { max_inbound_streams: Some(config.max_streams) };
    node.handle_with(
        PROTOCOL,
        move |stream: Stream, _ctx: StreamCtx| async move {
            let result = respond(stream, max_download).await;
            if let Err(e) = &result {
                debug!(error = %e, "perf stream failed");
            }
            result
        },
        opts,
    );
}

async fn respond(mut stream: Stream, max_download: u64) -> std::io::Result<()> {
    let to_send = stream.read_u64().await?;
    if to_send > max_download {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("asked for {to_send} bytes, at most {max_download}")));
    }
    let mut buf = vec![0u8; CHUNK];
    while stream.read(&mut buf).await? != 0 {}
    buf.fill(0);
    let mut left = to_send;
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        stream.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    stream.shutdown().await
}
