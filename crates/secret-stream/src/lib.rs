#![doc = include_str!("../README.md")]
#![deny(missing_docs, unreachable_pub, rustdoc::broken_intra_doc_links)]

mod config;
mod crypto;
mod datagram;
mod error;
mod frame;
mod keypair;
pub mod noise;
mod open;
mod secretstream;
mod session;
#[cfg(test)]
mod spec_tests;
mod stream;

pub use config::{Config, DEFAULT_WRITE_CHUNK};
pub use crypto::{NS_INITIATOR, NS_PEER_HANDSHAKE, NS_RESPONDER, NS_SEND, stream_id};
pub use datagram::{COUNTER_LEN, DatagramError, Datagrams, MAC_LEN};
pub use error::{HandshakeError, KeyHex, NoiseError, StreamError};
pub use frame::{FRAME_HEADER_LEN, FrameDecoder, MAX_FRAME_LEN, encode_frame_header};
pub use keypair::Keypair;
pub use session::{ABYTES, HEADER_FRAME_LEN, Incoming, MAX_PLAINTEXT_LEN, Session};
pub use stream::SecretStream;
