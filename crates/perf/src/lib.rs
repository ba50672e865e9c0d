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
