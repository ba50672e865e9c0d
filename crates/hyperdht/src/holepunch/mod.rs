//! Hyperswarm holepunching (`hyperdht/lib/holepuncher.js`, `connect.js`, `nat.js`,
//! `secure-payload.js`), both roles.
//!
//! A client whose PINGs show it is behind a NAT opens a fresh [`PunchSocket`], samples its
//! NAT from it ([`NatSampler`]), sends msg1 with firewall UNKNOWN and its stream on that
//! socket, then runs two PEER_HOLEPUNCH rounds through the server's relay (payloads sealed
//! by [`SecurePayload`]) and probes until a probe from the server arrives; the stream then
//! connects to where that probe came from. See `specs/hyperswarm.md`, "Holepunching".

pub mod client;
pub mod nat;
pub mod random_server;
pub mod secure;
pub mod server;
pub mod socket;

pub use nat::NatSampler;
pub use secure::{SecurePayload, holepunch_secret};
pub use socket::PunchSocket;

use std::time::Duration;

/// Consistent punching: probe rounds at most (one per [`PROBE_INTERVAL`]).
pub const CONSISTENT_ROUNDS: usize = 10;
/// Pause between consistent probe rounds.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// Random-port probes towards a randomizing NAT at most (~35 s at [`RANDOM_INTERVAL`]).
pub const RANDOM_PROBES: usize = 1750;
/// Pause between random-port probes.
pub const RANDOM_INTERVAL: Duration = Duration::from_millis(20);
/// Sockets opened for the birthday strategy at most (Node's `BIRTHDAY_SOCKETS`).
pub const BIRTHDAY_SOCKETS: usize = 256;
/// DHT nodes pinged for NAT samples.
pub const SAMPLE_NODES: usize = 4;

/// Why a punch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HolepunchError {
    /// The relay did not answer a PEER_HOLEPUNCH (it went away, or lost the server).
    #[error("the relay did not answer the holepunch round {round}")]
    RelayTimeout {
        /// Round that went unanswered.
        round: u64,
    },
    /// The reply was not a REPLY from the relay, or its payload did not open.
    #[error("bad holepunch reply: {0}")]
    BadReply(&'static str),
    /// The server answered with an error code.
    #[error("the server aborted the holepunch (error {0})")]
    RemoteAborted(u64),
    /// A NAT type could not be learned.
    #[error("NAT type unknown after probing")]
    ProbeTimeout,
    /// Both sides are behind randomizing NATs.
    #[error("both NATs randomize ports")]
    DoubleRandomized,
    /// The server did not start punching.
    #[error("the server is not punching")]
    RemoteNotPunching,
    /// No probe from the server arrived.
    #[error("no probe from the server arrived")]
    NoProbe,
    /// The server is not holepunchable (no relays in its payload) and not open.
    #[error("the server cannot be holepunched")]
    CannotHolepunch,
}
