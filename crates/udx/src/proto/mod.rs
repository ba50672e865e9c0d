//! The sans-IO UDX stream: fed datagrams and timestamps, polled for datagrams to
//! send and for its next timer. No sockets, no clocks of its own.
//!
//! ```text
//!   app ── write/read/finish/destroy ──▶ Connection ◀── handle_datagram(now, bytes)
//!                                         │  ▲
//!            poll_transmit(now, buf) ◀────┘  └──── handle_timeout(now) at poll_timeout()
//! ```

mod cc;
mod chunks;
mod conn;
mod mtu;
mod pacing;
mod recv;
mod rtt;
mod send;
mod transmit;

use thiserror::Error;

pub use conn::{Connection, Stats};

use crate::header::HeaderError;

/// Limits and tunables of one stream (`proto::Config`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Receive window in bytes, advertised to the peer (default 4 MiB, libudx's).
    /// Buffered received data never exceeds twice this.
    pub recv_window: usize,
    /// Bytes accepted from the application and not yet acked (default 4 MiB).
    pub send_buffer: usize,
    /// Largest congestion window in packets (default 4096).
    pub max_cwnd: u32,
    /// RTO expiries of one packet before the stream times out (default 6, libudx's).
    pub max_rto_timeouts: u32,
    /// Probe the path MTU upward from 1200 (default true, as libudx).
    pub mtu_probe: bool,
    /// Largest MTU to probe, 1200..=1500 (default 1500).
    pub max_mtu: u16,
    /// Unreliable MESSAGE datagrams held for the application (default 64).
    pub max_messages: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            recv_window: 4 * 1024 * 1024,
            send_buffer: 4 * 1024 * 1024,
            max_cwnd: 4096,
            max_rto_timeouts: 6,
            mtu_probe: true,
            max_mtu: 1500,
            max_messages: 64,
        }
    }
}

/// Why a stream is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Both sides ended and everything was acked.
    Finished,
    /// The peer sent DESTROY (ECONNRESET).
    Reset,
    /// We destroyed the stream.
    Destroyed,
    /// A packet went unacked for `max_rto_timeouts` RTOs (ETIMEDOUT).
    TimedOut,
}

/// A datagram the stream dropped, and why. Never fatal to the stream.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PacketError {
    /// Not a UDX packet.
    #[error("malformed UDX packet")]
    Header(#[from] HeaderError),
    /// Addressed to another stream id.
    #[error("packet for stream {0}, not this one")]
    WrongStream(u32),
    /// The stream is closed.
    #[error("stream is closed")]
    Closed,
    /// The ack covers sequence numbers never sent; the ack part was ignored.
    #[error("ack {ack} is beyond the next sequence number {next}")]
    AckBeyondSent {
        /// The ack received.
        ack: u32,
        /// Our next sequence number.
        next: u32,
    },
}

/// Why a write failed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// `finish` was called; no more data may follow.
    #[error("stream already finished")]
    Finished,
    /// The stream is closed.
    #[error("stream closed: {0:?}")]
    Closed(CloseReason),
}

/// Why a read failed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    /// The stream closed before the peer's END.
    #[error("stream closed: {0:?}")]
    Closed(CloseReason),
}

#[cfg(test)]
mod bottleneck_tests;
#[cfg(test)]
mod tests;
