#![doc = include_str!("../README.md")]
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

pub mod header;
pub mod proto;
mod rng;
pub mod sim;
mod socket;
mod stream;

pub use proto::{CloseReason, Config};
pub use socket::{BindError, LossConfig, RawDatagram, Socket, SocketConfig, StreamError};
pub use stream::Stream;
