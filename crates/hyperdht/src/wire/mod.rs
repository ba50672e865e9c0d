//! hyperdht 6.34 value encodings (`hyperdht/lib/messages.js`), namespaces and announce
//! signatures: what travels in the `value` field of a dht-rpc message.
//!
//! - [`ns`]: the `hyperswarm/dht` namespaces and the hyperdht command ids.
//! - [`records`]: peer record, announce/unannounce value, LOOKUP reply.
//! - [`handshake`]: PEER_HANDSHAKE / PEER_HOLEPUNCH values and their modes.
//! - [`payload`]: the Noise handshake payload (`noisePayload`).
//! - [`sign`]: announce/unannounce signatures.
//! - [`mutable`]: mutable/immutable records and the mutable-put signature.
//!
//! Decoders never panic. Like compact-encoding's `decode`, they ignore bytes after a
//! complete value (Node does, and appends new optional fields at the end). They reject a
//! value longer than [`MAX_VALUE_LEN`] and arrays longer than the per-field limits below,
//! so nothing allocates more than the input justifies.

pub mod handshake;
pub mod mutable;
pub mod ns;
pub mod payload;
pub mod records;
pub mod sign;

use crate::compact::DecodeError;

/// The longest value we decode: one dht-rpc datagram.
pub const MAX_VALUE_LEN: usize = crate::message::MAX_MESSAGE_LEN;
/// Most relay addresses in one peer record (Node stores 3; we accept a few more).
pub const MAX_RELAY_ADDRESSES: usize = 32;
/// Most peer records in one LOOKUP reply (Node sends at most 20).
pub const MAX_LOOKUP_PEERS: usize = 64;
/// Most addresses in one list of a Noise payload (addresses4/6, relays, relayAddresses).
pub const MAX_PAYLOAD_ADDRESSES: usize = 64;

/// Why a hyperdht value did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A compact-encoding field was truncated or malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The whole value is longer than [`MAX_VALUE_LEN`].
    #[error("value of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An array is longer than its limit.
    #[error("{what}: {len} entries exceed the maximum of {max}")]
    TooMany {
        /// Which array.
        what: &'static str,
        /// Its announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A handshake/holepunch mode outside 0..=4.
    #[error("unknown mode {0}")]
    UnknownMode(u64),
}

pub(crate) fn check_len(bytes: &[u8]) -> Result<(), WireError> {
    if bytes.len() > MAX_VALUE_LEN {
        return Err(WireError::TooLarge { len: bytes.len(), max: MAX_VALUE_LEN });
    }
    Ok(())
}

/// An `array` header checked against `max`.
pub(crate) fn array_len(d: &mut crate::compact::Decoder<'_>, what: &'static str, max: usize) -> Result<usize, WireError> {
    let len = d.array_len()?;
    if len > max {
        return Err(WireError::TooMany { what, len, max });
    }
    Ok(len)
}

/// `array(ipv4Address)` of at most `max` entries.
pub(crate) fn ipv4_list(
    d: &mut crate::compact::Decoder<'_>,
    what: &'static str,
    max: usize,
) -> Result<Vec<std::net::SocketAddrV4>, WireError> {
    let n = array_len(d, what, max)?;
    (0..n).map(|_| d.ipv4_address().map_err(WireError::from)).collect()
}

pub use handshake::{HandshakeMessage, HolepunchMessage, Mode};
pub use ns::command;
pub use payload::NoisePayload;
pub use records::{Announce, LookupReply, PeerRecord};
