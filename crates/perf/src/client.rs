//! The perf client.

use std::time::{Duration, Instant};

use rhizome_node::{Connection, Node, OpenStreamError, PeerId, Stream};
use tokio::io::AsyncWriteExt as _;

use crate::{CHUNK, PROTOCOL};

/// A failed perf run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stream could not be opened.
    #[error("cannot open a perf stream")]
    Open(#[from] OpenStreamError),
    /// The stream failed mid-run.
    #[error("perf stream failed")]
    Io(#[from] std::io::Error),
    /// The server sent a different number of bytes than asked.
    #[error("asked for {expected} bytes, received {received}")]
    WrongLength {
        /// Bytes asked for.
        expected: u64,
        /// Bytes received before EOF.
        received: u64,
    },
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Bytes sent.
    pub upload_bytes: u64,
    /// Bytes received.
    pub download_bytes: u64,
    /// From opening the stream to the end of the upload (our write side closed).
    pub upload: Duration,
    /// From the end of the upload to the server's EOF.
    pub download: Duration,
    /// The whole run, stream opening included.
    pub total: Duration,
}

/// Opens a perf stream to `peer` (dialing if needed), uploads `upload` bytes and
/// downloads `download` bytes.
pub async fn run(node: &Node, peer: PeerId, upload: u64, download: u64) -> Result<Report, Error> {
    let start = Instant::now();
    let stream = node.open_stream(peer, PROTOCOL).await?;
    exchange(stream, upload, download, start).await
}

/// Like [`run`], on one connection.
pub async fn run_on(node: &Node, conn: &Connection, upload: u64, download: u64) -> Result<Report, Error> {
    let start = Instant::now();
    let stream = node.open_stream_on(conn, PROTOCOL).await?;
    exchange(stream, upload, download, start).await
}

async fn exchange(mut stream: Stream, upload: u64, download: u64, start: Instant) -> Result<Report, Error> {
    stream.write_u64(download).await?;
    let mut buf = vec![0u8; CHUNK];
    crate::write_zeros(&mut stream, &mut buf, upload).await?;
    stream.shutdown().await?;
    let uploaded = start.elapsed();
    let received = match crate::count_until_eof(&mut stream, &mut buf, download).await {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(Error::WrongLength { expected: download, received: download + 1 });
        }
        Err(e) => return Err(e.into()),
    };
    if received != download {
        return Err(Error::WrongLength { expected: download, received });
    }
    let total = start.elapsed();
    Ok(Report { upload_bytes: upload, download_bytes: received, upload: uploaded, download: total - uploaded, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_limits() {
        rhizome_testing::timeout(async {
            let (client, server) = rhizome_testing::pair().await;
            let served = crate::serve(&server, &crate::Config { max_download: 1 << 20, ..Default::default() });
            let mut reports = served.subscribe();
            let r = run(&client, server.id(), 300_000, 500_000).await.unwrap();
            assert_eq!((r.upload_bytes, r.download_bytes), (300_000, 500_000));
            // The server counted the same bytes, and knows who asked.
            let s = reports.recv().await.unwrap();
            assert_eq!((s.peer, s.received, s.sent), (client.id(), 300_000, 500_000));
            assert!(r.total >= r.upload);
            let r = run(&client, server.id(), 0, 0).await.unwrap();
            assert_eq!((r.upload_bytes, r.download_bytes), (0, 0));
            // Over the server's limit: the stream is reset, a typed error here.
            assert!(run(&client, server.id(), 10, 2 << 20).await.is_err());
        })
        .await
    }
}
