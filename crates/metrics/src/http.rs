//! A minimal HTTP/1.1 endpoint for scrapers: `GET /metrics`, then close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tracing::debug;

use crate::Metrics;

/// Scrapes served at once; more connections are closed at once.
pub const MAX_CONCURRENT_SCRAPES: usize = 16;
/// The longest request head we read.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a scraper may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding the address failed.
    #[error("cannot bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A running metrics endpoint; it stops when this is dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl MetricsServer {
    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Metrics {
    /// Serves `GET /metrics` on `addr` (port 0 picks one) until the returned handle is
    /// dropped. Must be called within a tokio runtime.
    pub async fn serve(&self, addr: SocketAddr) -> Result<MetricsServer, ServeError> {
        let listener = TcpListener::bind(addr).await.map_err(|source| ServeError::Bind { addr, source })?;
        let bound = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let metrics = self.clone();
        let slots = Arc::new(Semaphore::new(MAX_CONCURRENT_SCRAPES));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut stopped => break,
                    a = listener.accept() => a,
                };
                let Ok((socket, _)) = accepted else { continue };
                let Ok(permit) = slots.clone().try_acquire_owned() else { continue };
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = tokio::time::timeout(REQUEST_TIMEOUT * 2, answer(socket, &metrics)).await {
                        debug!(error = %e, "metrics request timed out");
                    }
                });
            }
        });
        Ok(MetricsServer { addr: bound, _stop: stop })
    }
}

async fn answer(mut socket: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(REQUEST_TIMEOUT, socket.read(&mut buf)).await.map_err(|_| std::io::ErrorKind::TimedOut)??;
        if n == 0 || head.len() + n > MAX_REQUEST_BYTES {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let response = if method == b"GET" && (path == b"/metrics" || path.starts_with(b"/metrics?")) {
        let body = metrics.encode();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    };
    socket.write_all(response.as_bytes()).await?;
    socket.shutdown().await
}
