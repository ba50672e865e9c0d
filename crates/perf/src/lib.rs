//! The libp2p perf protocol, `/perf/1.0.0`
//! (<https://github.com/libp2p/specs/blob/master/perf/perf.md>), on a Rhizome node.
//!
//! On one stream, the client sends the number of bytes it wants back as a big-endian
//! `u64`, then its upload, then closes its write side; the server reads (and discards)
//! until that EOF, sends the requested bytes and closes. The server never buffers:
//! it reads and writes in [`CHUNK`]-byte pieces, and it refuses to send more than
//! [`Config::max_download`] bytes. [`serve`] returns a [`Server`] whose
//! [`Server::subscribe`] reports each completed stream ([`Served`]: the peer, the
//! upload bytes received, the bytes sent), for tests and operators.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (client, server) = rhizome_testing::pair().await;
//! rhizome_perf::serve(&server, &rhizome_perf::Config::default());
//! let report = rhizome_perf::run(&client, server.id(), 1 << 20, 2 << 20).await?;
//! assert_eq!((report.upload_bytes, report.download_bytes), (1 << 20, 2 << 20));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod client;
mod server;

pub use client::{Error, Report, run, run_on};
pub use server::{Config, Served, Server, serve};

use rhizome_node::ProtocolId;

/// The protocol id.
pub const PROTOCOL: ProtocolId = ProtocolId::from_static("/perf/1.0.0");

/// Bytes read or written per call, on both sides.
pub const CHUNK: usize = 64 * 1024;

/// Writes `n` zero bytes, [`CHUNK`] at a time, from `buf` (at least `CHUNK` long,
/// zeroed here).
async fn write_zeros(stream: &mut rhizome_node::Stream, buf: &mut [u8], n: u64) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    buf.fill(0);
    let mut left = n;
    while left > 0 {
        let len = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK)).min(buf.len());
        stream.write_all(&buf[..len]).await?;
        left -= len as u64;
    }
    Ok(())
}

/// Reads until EOF, counting the bytes; fails past `max`.
async fn count_until_eof(stream: &mut rhizome_node::Stream, buf: &mut [u8], max: u64) -> std::io::Result<u64> {
    use tokio::io::AsyncReadExt as _;
    let mut received = 0u64;
    loop {
        let n = stream.read(buf).await?;
        if n == 0 {
            return Ok(received);
        }
        received += n as u64;
        if received > max {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("more than {max} bytes")));
        }
    }
}
