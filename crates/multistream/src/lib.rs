//! multistream-select 1.0 (`/multistream/1.0.0`), the protocol negotiation libp2p runs
//! on every raw connection, secured channel and stream.
//!
//! - [`Message`]: the wire format, `uvarint(len) || utf8 || '\n'`, at most
//!   [`MAX_MESSAGE_LEN`] (1024) bytes.
//! - [`Dialer`] and [`Listener`]: sans-IO negotiators. Feed received bytes in, send
//!   what they output; bytes after the final message stay in the input buffer.
//! - [`dialer_select`] and [`listener_select`]: the async shell, returning a
//!   [`Negotiated`] pipe that hands leftover bytes to the next layer.
//!   [`Version::V1Lazy`] makes a single-protocol dialer optimistic (0 RTT), as
//!   rust-libp2p does for `/noise` and `/yamux/1.0.0`.
//!
//! The listener answers `ls` and bounds the proposals per negotiation to
//! [`MAX_PROPOSALS`]. Spec: <https://github.com/multiformats/multistream-select>;
//! our notes and test vectors are in `specs/multistream-select.md`.
#![deny(missing_docs)]

mod error;
mod machine;
mod message;
mod negotiated;
mod select;

pub use error::{NegotiationError, ProtocolError};
pub use machine::{Dialer, Listener, MAX_PROPOSALS, Progress, ProtocolSet};
pub use message::{HEADER, MAX_MESSAGE_LEN, Message, encode_protocol_list};
pub use negotiated::Negotiated;
pub use select::{Version, dialer_select, listener_select, listener_select_deferred};

#[cfg(test)]
mod tests;
