//! The 20-byte UDX packet header and the SACK block list that may follow it.
//!
//! Layout (all integers little-endian):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 1 | magic `0xFF` |
//! | 1 | 1 | version `0x01` |
//! | 2 | 1 | type flags ([`flags`]) |
//! | 3 | 1 | data offset: bytes to skip between header and payload |
//! | 4 | 4 | receiver's stream id |
//! | 8 | 4 | receive window in bytes |
//! | 12 | 4 | sequence number (packets, not bytes) |
//! | 16 | 4 | cumulative ack: next sequence number expected |

use thiserror::Error;

/// Header length in bytes.
pub const HEADER_LEN: usize = 20;
/// First byte of every UDX packet.
pub const MAGIC: u8 = 0xFF;
/// Second byte of every UDX packet.
pub const VERSION: u8 = 0x01;
/// At most this many SACK blocks are sent in one packet (libudx `UDX_MAX_SACKS`).
pub const MAX_SACKS: usize = 50;

/// Type flag bits (byte 2). `0` is a pure ACK.
pub mod flags {
    /// The packet carries stream data and consumes one sequence number.
    pub const DATA: u8 = 0x01;
    /// End of the sender's half of the stream; consumes one sequence number.
    pub const END: u8 = 0x02;
    /// SACK blocks follow the header.
    pub const SACK: u8 = 0x04;
    /// An unreliable datagram for the application.
    pub const MESSAGE: u8 = 0x08;
    /// The sender destroyed the stream (reset).
    pub const DESTROY: u8 = 0x10;
    /// A probe; answered with an ACK.
    pub const HEARTBEAT: u8 = 0x20;
}

/// Why bytes are not a UDX header.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    #[error("datagram of {0} bytes is shorter than the 20-byte UDX header")]
    Truncated(usize),
    /// Wrong magic byte or version.
    #[error("not a UDX v1 packet (bytes {0:#04x} {1:#04x})")]
    NotUdx(u8, u8),
    /// `data_offset` points past the end of the datagram.
    #[error("data offset {offset} exceeds the {available} bytes after the header")]
    BadDataOffset {
        /// The offset from the header.
        offset: u8,
        /// Bytes present after the header.
        available: usize,
    },
}

/// A decoded UDX header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Type flags ([`flags`]).
    pub flags: u8,
    /// Bytes between the header and the payload (MTU-probe padding).
    pub data_offset: u8,
    /// The receiving stream's id.
    pub stream_id: u32,
    /// Free receive-buffer space of the sender, in bytes.
    pub rwnd: u32,
    /// Sequence number.
    pub seq: u32,
    /// Cumulative ack (next sequence number the sender expects).
    pub ack: u32,
}

impl Header {
    /// Writes the header into the first 20 bytes of `out`.
    pub fn encode(&self, out: &mut [u8; HEADER_LEN]) {
        out[0] = MAGIC;
        out[1] = VERSION;
        out[2] = self.flags;
        out[3] = self.data_offset;
        out[4..8].copy_from_slice(&self.stream_id.to_le_bytes());
        out[8..12].copy_from_slice(&self.rwnd.to_le_bytes());
        out[12..16].copy_from_slice(&self.seq.to_le_bytes());
        out[16..20].copy_from_slice(&self.ack.to_le_bytes());
    }

    /// Appends the encoded header to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; HEADER_LEN];
        self.encode(&mut b);
        out.extend_from_slice(&b);
    }

    /// Decodes the header of `datagram`.
    pub fn decode(datagram: &[u8]) -> Result<Header, HeaderError> {
        let Some(b) = datagram.first_chunk::<HEADER_LEN>() else {
            return Err(HeaderError::Truncated(datagram.len()));
        };
        if b[0] != MAGIC || b[1] != VERSION {
            return Err(HeaderError::NotUdx(b[0], b[1]));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Ok(Header { flags: b[2], data_offset: b[3], stream_id: u32_at(4), rwnd: u32_at(8), seq: u32_at(12), ack: u32_at(16) })
    }

    /// Whether `flags` has all bits of `f`.
    pub fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }
}

/// Reads the stream id a datagram is addressed to, if it looks like UDX (used to
/// tell UDX packets from other traffic on a shared socket).
pub fn peek_stream_id(datagram: &[u8]) -> Option<u32> {
    let b = datagram.first_chunk::<HEADER_LEN>()?;
    if b[0] != MAGIC || b[1] != VERSION {
        return None;
    }
    Some(u32::from_le_bytes([b[4], b[5], b[6], b[7]]))
}

/// The parts of a decoded datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The header.
    pub header: Header,
    /// SACK blocks as raw bytes (8 bytes each); empty unless [`flags::SACK`].
    pub sacks: &'a [u8],
    /// The payload after the data offset.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Splits a datagram into header, SACK area and payload, as libudx reads them.
    pub fn decode(datagram: &'a [u8]) -> Result<Packet<'a>, HeaderError> {
        let header = Header::decode(datagram)?;
        let rest = datagram.get(HEADER_LEN..).unwrap_or_default();
        let offset = usize::from(header.data_offset);
        if offset > rest.len() {
            return Err(HeaderError::BadDataOffset { offset: header.data_offset, available: rest.len() });
        }
        let sacks = if header.has(flags::SACK) {
            // libudx: data_offset bounds the SACK area when it is set and smaller.
            let area = if offset > 0 && offset < rest.len() { offset } else { rest.len() };
            let n = (area / 8).min(MAX_SACKS);
            rest.get(..n * 8).unwrap_or_default()
        } else {
            &[]
        };
        let payload = rest.get(offset..).unwrap_or_default();
        Ok(Packet { header, sacks, payload })
    }

    /// Iterates the SACK blocks as `(start, end)` with `end` exclusive.
    pub fn sack_blocks(&self) -> impl Iterator<Item = (u32, u32)> + 'a {
        self.sacks.chunks_exact(8).map(|c| (u32::from_le_bytes([c[0], c[1], c[2], c[3]]), u32::from_le_bytes([c[4], c[5], c[6], c[7]])))
    }
}

/// Wrapping sequence-number difference `a - b` as a signed value (libudx `seq_diff`).
pub fn seq_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// `a < b` in wrapping sequence space.
pub fn seq_lt(a: u32, b: u32) -> bool {
    seq_diff(a, b) < 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn header_round_trips(flags in any::<u8>(), off in any::<u8>(), id in any::<u32>(),
                              rwnd in any::<u32>(), seq in any::<u32>(), ack in any::<u32>()) {
            let h = Header { flags, data_offset: off, stream_id: id, rwnd, seq, ack };
            let mut b = [0u8; HEADER_LEN];
            h.encode(&mut b);
            prop_assert_eq!(Header::decode(&b), Ok(h));
            prop_assert_eq!(peek_stream_id(&b), Some(id));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Packet::decode(&bytes).map(|p| p.sack_blocks().count());
        }

        #[test]
        fn udx_prefixed_garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut d = vec![MAGIC, VERSION];
            d.extend_from_slice(&tail);
            if let Ok(p) = Packet::decode(&d) {
                prop_assert!(p.sacks.len() % 8 == 0);
                prop_assert!(p.payload.len() + usize::from(p.header.data_offset) + HEADER_LEN <= d.len());
            }
        }
    }

    #[test]
    fn short_and_foreign_datagrams_are_rejected() {
        assert_eq!(Header::decode(&[0xff, 1, 0]), Err(HeaderError::Truncated(3)));
        assert_eq!(Header::decode(&[3u8; 20]), Err(HeaderError::NotUdx(3, 3)));
        let mut d = [0u8; 21];
        Header { data_offset: 2, ..Header::default() }.encode(d.first_chunk_mut().unwrap());
        assert!(matches!(Packet::decode(&d), Err(HeaderError::BadDataOffset { .. })));
    }

    #[test]
    fn wrapping_compare() {
        assert!(seq_lt(u32::MAX, 0));
        assert!(!seq_lt(0, u32::MAX));
        assert_eq!(seq_diff(1, u32::MAX), 2);
    }
}
