//! libp2p ping (`/ipfs/ping/1.0.0`), written only against the [`Node`] API.
//!
//! The dialer writes 32 random bytes and the listener echoes them; the round trip
//! is the RTT. One stream carries any number of pings. [`serve`] registers the
//! echo handler (many concurrent inbound streams: [`Config::max_inbound_streams`]
//! per connection), [`Pinger`] pings over one stream, [`ping`] once.
//!
//! Spec: <https://github.com/libp2p/specs/blob/master/ping/ping.md>.
#![deny(missing_docs)]

use std::time::{Duration, Instant};

use rand::RngCore as _;
use rhizome_node::PeerId;
use rhizome_node::{HandlerOpts, Node, OpenStreamError, ProtocolId, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The protocol id.
pub const PROTOCOL: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
/// Bytes per ping.
pub const PAYLOAD_LEN: usize = 32;

/// Ping settings (`ping::Config`).
#[derive(Debug, Clone)]
pub struct Config {
    /// Concurrent inbound ping streams per connection (default 64; rust-libp2p keeps
    /// one, js-libp2p two).
    pub max_inbound_streams: usize,
    /// How long one ping may take (default 20 s, as rust-libp2p).
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_inbound_streams: 64, timeout: Duration::from_secs(20) }
    }
}

/// A failed ping.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream could not be opened.
    #[error("cannot open ping stream")]
    Open(#[from] OpenStreamError),
    /// I/O on the stream failed (or it closed).
    #[error("ping stream failed")]
    Io(#[from] std::io::Error),
    /// The echo differs from what we sent.
    #[error("ping echo does not match")]
    Mismatch,
    /// No echo within the timeout.
    #[error("ping timed out")]
    Timeout,
}

/// Serves inbound pings on `node`: echoes every 32-byte chunk until the remote
/// half-closes.
pub fn serve(node: &Node, config: &Config) {
    let opts = HandlerOpts { max_inbound_streams: Some(config.max_inbound_streams) };
    node.handle_with(PROTOCOL, echo, opts);
}

async fn echo(mut stream: Stream, ctx: StreamCtx) -> std::io::Result<()> {
    let mut buf = [0u8; PAYLOAD_LEN];
    loop {
        // Ping streams can live as long as the connection (rust-libp2p keeps one open):
        // stop when the node shuts down.
        let read = tokio::select! {
            r = stream.read_exact(&mut buf) => r,
            _ = ctx.shutdown.cancelled() => break,
        };
        match read {
            Ok(_) => {}
            // A clean end of the ping series.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        stream.write_all(&buf).await?;
        stream.flush().await?;
    }
    stream.shutdown().await
}

/// Pings one peer repeatedly over one stream.
#[derive(Debug)]
pub struct Pinger {
    stream: Stream,
    timeout: Duration,
}

impl Pinger {
    /// Opens a ping stream to `peer` (dialing a known address if needed).
    pub async fn open(node: &Node, peer: PeerId, config: &Config) -> Result<Self, Error> {
        let stream = node.open_stream(peer, PROTOCOL).await?;
        Ok(Self { stream, timeout: config.timeout })
    }

    /// One ping: returns the round-trip time.
    pub async fn ping(&mut self) -> Result<Duration, Error> {
        let mut payload = [0u8; PAYLOAD_LEN];
        rand::rng().fill_bytes(&mut payload);
        let started = Instant::now();
        let round_trip = async {
            self.stream.write_all(&payload).await?;
            self.stream.flush().await?;
            let mut echo = [0u8; PAYLOAD_LEN];
            self.stream.read_exact(&mut echo).await?;
            Ok::<_, Error>(echo)
        };
        let echo = tokio::time::timeout(self.timeout, round_trip).await.map_err(|_| Error::Timeout)??;
        if echo != payload {
            return Err(Error::Mismatch);
        }
        Ok(started.elapsed())
    }

    /// Half-closes the stream (ending the series cleanly).
    pub async fn close(mut self) -> Result<(), Error> {
        self.stream.shutdown().await?;
        Ok(())
    }
}

/// Pings `peer` once over a fresh stream.
pub async fn ping(node: &Node, peer: PeerId) -> Result<Duration, Error> {
    let config = Config::default();
    let mut pinger = Pinger::open(node, peer, &config).await?;
    let rtt = pinger.ping().await?;
    let _ = pinger.close().await;
    Ok(rtt)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair() -> (Node, Node) {
        let a = Node::builder().memory().build().await.unwrap();
        let b = Node::builder().memory().listen("/memory/0".parse().unwrap()).build().await.unwrap();
        let addr = b.listen_addrs()[0].clone();
        a.dial(addr).await.unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn pings_over_one_stream_and_many_concurrent_streams() {
        tokio::time::timeout(Duration::from_secs(20), async {
            let (a, b) = pair().await;
            serve(&b, &Config::default());
            let mut p = Pinger::open(&a, b.id(), &Config::default()).await.unwrap();
            for _ in 0..10 {
                assert!(p.ping().await.unwrap() < Duration::from_secs(5));
            }
            p.close().await.unwrap();
            let many: Vec<_> = (0..50).map(|_| ping(&a, b.id())).collect();
            for r in futures::future::join_all(many).await {
                r.unwrap();
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn ping_without_server_is_unsupported() {
        let (a, b) = pair().await;
        let err = ping(&a, b.id()).await.unwrap_err();
        assert!(matches!(err, Error::Open(OpenStreamError::UnsupportedProtocol(_))), "{err:?}");
    }
}
