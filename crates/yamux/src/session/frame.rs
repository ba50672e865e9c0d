//! The 12-byte yamux frame header: `version | type | flags | stream id | length`,
//! big-endian. Only DATA frames carry a body (`length` bytes); for the other types
//! `length` is a window credit, a ping opaque or a GoAway code.

/// Bytes in a header.
pub const HEADER_LEN: usize = 12;

/// Frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// Stream data; `length` body bytes follow.
    Data,
    /// Grants `length` more bytes of send window.
    WindowUpdate,
    /// Liveness / RTT probe; `length` is an opaque value echoed back.
    Ping,
    /// Session termination; `length` is the reason code.
    GoAway,
}

impl FrameType {
    fn code(self) -> u8 {
        match self {
            FrameType::Data => 0,
            FrameType::WindowUpdate => 1,
            FrameType::Ping => 2,
            FrameType::GoAway => 3,
        }
    }
}

/// Flags (a bit set).
pub mod flags {
    /// Opens a stream.
    pub const SYN: u16 = 1;
    /// Acknowledges a stream (or answers a ping).
    pub const ACK: u16 = 2;
    /// Half-closes a stream.
    pub const FIN: u16 = 4;
    /// Resets a stream.
    pub const RST: u16 = 8;
}

/// GoAway codes.
pub mod go_away {
    /// Normal termination.
    pub const NORMAL: u32 = 0;
    /// The remote violated the protocol.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// Internal error.
    pub const INTERNAL_ERROR: u32 = 2;
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// The frame type.
    pub ty: FrameType,
    /// `flags::*` bits.
    pub flags: u16,
    /// The stream (0 for session frames).
    pub stream: u32,
    /// Body length (DATA), credit (WINDOW_UPDATE), opaque (PING) or code (GO_AWAY).
    pub length: u32,
}

/// A header that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Version other than 0.
    #[error("unknown yamux version {0}")]
    Version(u8),
    /// Type other than 0..=3.
    #[error("unknown yamux frame type {0}")]
    Type(u8),
}

impl Header {
    /// A header of `ty` for `stream`.
    pub fn new(ty: FrameType, flags: u16, stream: u32, length: u32) -> Self {
        Self { ty, flags, stream, length }
    }

    /// Whether all of `flag` are set.
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag == flag
    }

    /// The body bytes that follow this header.
    pub fn body_len(&self) -> usize {
        if self.ty == FrameType::Data { self.length as usize } else { 0 }
    }

    /// The 12 wire bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[1] = self.ty.code();
        b[2..4].copy_from_slice(&self.flags.to_be_bytes());
        b[4..8].copy_from_slice(&self.stream.to_be_bytes());
        b[8..12].copy_from_slice(&self.length.to_be_bytes());
        b
    }

    /// Decodes 12 wire bytes.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, HeaderError> {
        if b[0] != 0 {
            return Err(HeaderError::Version(b[0]));
        }
        let ty = match b[1] {
            0 => FrameType::Data,
            1 => FrameType::WindowUpdate,
            2 => FrameType::Ping,
            3 => FrameType::GoAway,
            t => return Err(HeaderError::Type(t)),
        };
        Ok(Self {
            ty,
            flags: u16::from_be_bytes([b[2], b[3]]),
            stream: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            length: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vectors() {
        let h = Header::new(FrameType::Data, flags::SYN, 1, 2);
        assert_eq!(h.encode(), [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2]);
        let g = Header::new(FrameType::GoAway, 0, 0, go_away::PROTOCOL_ERROR);
        assert_eq!(g.encode(), [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(Header::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(HeaderError::Version(1)));
        assert_eq!(Header::decode(&[0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(HeaderError::Type(4)));
        assert_eq!(Header::new(FrameType::Ping, 0, 0, 9).body_len(), 0);
    }

    proptest! {
        #[test]
        fn round_trips(ty in 0u8..4, flags: u16, stream: u32, length: u32) {
            let mut b = [0u8; HEADER_LEN];
            b[1] = ty;
            b[2..4].copy_from_slice(&flags.to_be_bytes());
            b[4..8].copy_from_slice(&stream.to_be_bytes());
            b[8..12].copy_from_slice(&length.to_be_bytes());
            let h = Header::decode(&b).unwrap();
            prop_assert_eq!(h.encode(), b);
        }

        #[test]
        fn decoding_never_panics(b: [u8; HEADER_LEN]) {
            let _ = Header::decode(&b);
        }
    }
}
