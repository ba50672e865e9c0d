//! compact-encoding 3.5 (the `compact-encoding` npm module), the subset dht-rpc and hyperdht use.
//!
//! Sans-IO: [`Encoder`] appends to a `Vec<u8>`, [`Decoder`] reads from a borrowed slice and
//! returns a typed [`DecodeError`] for truncated or malformed input; it never panics.
//!
//! All fixed-width integers are little-endian. `uint` is the compact varint:
//! `n <= 0xFC` is one byte, else a marker byte `0xFD`/`0xFE`/`0xFF` then u16/u32/u64 LE.
//! Like the JS decoder we accept non-minimal varints (`FD 01 00` decodes as 1).

use std::net::{Ipv4Addr, SocketAddrV4};

/// Largest element count [`Decoder::array_len`] accepts (compact-encoding's `array` limit).
pub const MAX_ARRAY_LEN: u64 = 0x100000;

/// Why a decode failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before the value did.
    #[error("input truncated: needed {needed} more bytes, {available} left")]
    Truncated {
        /// Bytes the value still needed.
        needed: u64,
        /// Bytes that were left.
        available: usize,
    },
    /// An array header announced more than [`MAX_ARRAY_LEN`] elements.
    #[error("array of {0} elements exceeds the maximum of {MAX_ARRAY_LEN}")]
    ArrayTooLong(u64),
    /// A `uint8`/`uint16`/... carried in a varint field did not fit its width.
    #[error("integer {0} out of range")]
    OutOfRange(u64),
    /// A `string` was not UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// Bytes were left over after a complete message.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
}

/// Appends compact-encoded values to a buffer.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// `uint`: the compact varint.
    pub fn uint(&mut self, n: u64) -> &mut Self {
        if n <= 0xFC {
            self.buf.push(n as u8);
        } else if n <= 0xFFFF {
            self.buf.push(0xFD);
            self.buf.extend_from_slice(&(n as u16).to_le_bytes());
        } else if n <= 0xFFFF_FFFF {
            self.buf.push(0xFE);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        } else {
            self.buf.push(0xFF);
            self.buf.extend_from_slice(&n.to_le_bytes());
        }
        self
    }

    /// `uint8`.
    pub fn uint8(&mut self, n: u8) -> &mut Self {
        self.buf.push(n);
        self
    }

    /// `uint16` (LE).
    pub fn uint16(&mut self, n: u16) -> &mut Self {
        self.buf.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// `uint24` (LE); the top byte of `n` is ignored.
    pub fn uint24(&mut self, n: u32) -> &mut Self {
        self.buf.extend_from_slice(&n.to_le_bytes()[..3]);
        self
    }

    /// `uint32` (LE).
    pub fn uint32(&mut self, n: u32) -> &mut Self {
        self.buf.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// `uint64` (LE).
    pub fn uint64(&mut self, n: u64) -> &mut Self {
        self.buf.extend_from_slice(&n.to_le_bytes());
        self
    }

    /// `fixed32` / `fixed64` / any raw fixed-size bytes.
    pub fn fixed(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// `buffer`: `uint` length then the bytes.
    pub fn buffer(&mut self, bytes: &[u8]) -> &mut Self {
        self.uint(bytes.len() as u64);
        self.fixed(bytes)
    }

    /// `string`: `uint` byte length then UTF-8.
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.buffer(s.as_bytes())
    }

    /// `array` header: the element count.
    pub fn array_len(&mut self, n: usize) -> &mut Self {
        self.uint(n as u64)
    }

    /// `ipv4Address`: 4 IP bytes in network order, then the port as uint16 LE.
    pub fn ipv4_address(&mut self, addr: SocketAddrV4) -> &mut Self {
        self.fixed(&addr.ip().octets());
        self.uint16(addr.port())
    }

    /// `array(ipv4Address)`.
    pub fn ipv4_array(&mut self, addrs: &[SocketAddrV4]) -> &mut Self {
        self.array_len(addrs.len());
        for a in addrs {
            self.ipv4_address(*a);
        }
        self
    }
}

/// Reads compact-encoded values from a slice.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless everything was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// `n` raw bytes.
    pub fn take(&mut self, n: u64) -> Result<&'a [u8], DecodeError> {
        let available = self.remaining();
        match usize::try_from(n) {
            Ok(n) if n <= available => {
                let out = &self.buf[self.pos..self.pos + n];
                self.pos += n;
                Ok(out)
            }
            _ => Err(DecodeError::Truncated { needed: n, available }),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }

    /// `uint`: the compact varint.
    pub fn uint(&mut self) -> Result<u64, DecodeError> {
        let [first] = self.array::<1>()?;
        Ok(match first {
            0xFD => u64::from(u16::from_le_bytes(self.array()?)),
            0xFE => u64::from(u32::from_le_bytes(self.array()?)),
            0xFF => u64::from_le_bytes(self.array()?),
            n => u64::from(n),
        })
    }

    /// A `uint` that must fit in a `u32`.
    pub fn uint_u32(&mut self) -> Result<u32, DecodeError> {
        let n = self.uint()?;
        u32::try_from(n).map_err(|_| DecodeError::OutOfRange(n))
    }

    /// `uint8`.
    pub fn uint8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// `uint16` (LE).
    pub fn uint16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    /// `uint24` (LE).
    pub fn uint24(&mut self) -> Result<u32, DecodeError> {
        let [a, b, c] = self.array::<3>()?;
        Ok(u32::from_le_bytes([a, b, c, 0]))
    }

    /// `uint32` (LE).
    pub fn uint32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// `uint64` (LE).
    pub fn uint64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `fixed32`.
    pub fn fixed32(&mut self) -> Result<[u8; 32], DecodeError> {
        self.array()
    }

    /// `fixed64`.
    pub fn fixed64(&mut self) -> Result<[u8; 64], DecodeError> {
        self.array()
    }

    /// `buffer`: `uint` length then bytes. The maximum length is the rest of the input
    /// (one datagram, at most 64 KiB), so no allocation happens before the bytes are there.
    pub fn buffer(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.uint()?;
        self.take(n)
    }

    /// `string`: `uint` byte length then UTF-8 (same maximum as [`Decoder::buffer`]).
    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.buffer()?).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// `array` header: the element count, at most [`MAX_ARRAY_LEN`].
    pub fn array_len(&mut self) -> Result<usize, DecodeError> {
        let n = self.uint()?;
        if n > MAX_ARRAY_LEN {
            return Err(DecodeError::ArrayTooLong(n));
        }
        usize::try_from(n).map_err(|_| DecodeError::ArrayTooLong(n))
    }

    /// `ipv4Address`: 4 IP bytes then uint16 LE port.
    pub fn ipv4_address(&mut self) -> Result<SocketAddrV4, DecodeError> {
        let ip: [u8; 4] = self.array()?;
        let port = self.uint16()?;
        Ok(SocketAddrV4::new(Ipv4Addr::from(ip), port))
    }

    /// `array(ipv4Address)`. The count is checked against the input left (6 bytes each)
    /// before anything is allocated.
    pub fn ipv4_array(&mut self) -> Result<Vec<SocketAddrV4>, DecodeError> {
        let n = self.array_len()?;
        let needed = n as u64 * 6;
        if needed > self.remaining() as u64 {
            return Err(DecodeError::Truncated { needed, available: self.remaining() });
        }
        (0..n).map(|_| self.ipv4_address()).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn uint_boundaries_match_compact_encoding() {
        let cases: [(u64, &str); 7] = [
            (0, "00"),
            (0xFC, "fc"),
            (0xFD, "fdfd00"),
            (0xFFFF, "fdffff"),
            (0x10000, "fe00000100"),
            (0xFFFF_FFFF, "feffffffff"),
            (0x1_0000_0000, "ff0000000001000000"),
        ];
        for (n, want) in cases {
            let mut e = Encoder::new();
            e.uint(n);
            assert_eq!(hex(&e.finish()), want, "{n}");
        }
    }

    #[test]
    fn ipv4_address_layout() {
        let mut e = Encoder::new();
        e.ipv4_address("127.0.0.1:49738".parse().unwrap());
        assert_eq!(hex(&e.finish()), "7f0000014ac2");
    }

    #[test]
    fn non_minimal_varint_accepted() {
        assert_eq!(Decoder::new(&[0xFD, 1, 0]).uint().unwrap(), 1);
    }

    #[test]
    fn huge_array_rejected_without_allocating() {
        let mut e = Encoder::new();
        e.uint(MAX_ARRAY_LEN + 1);
        let b = e.finish();
        assert_eq!(Decoder::new(&b).ipv4_array(), Err(DecodeError::ArrayTooLong(MAX_ARRAY_LEN + 1)));
        let mut e = Encoder::new();
        e.uint(1000);
        let b = e.finish();
        assert!(matches!(Decoder::new(&b).ipv4_array(), Err(DecodeError::Truncated { .. })));
    }

    proptest! {
        #[test]
        fn round_trip(n in any::<u64>(), a in any::<u8>(), b in any::<u16>(), c in 0u32..0x100_0000,
                      d in any::<u32>(), e64 in any::<u64>(), buf in proptest::collection::vec(any::<u8>(), 0..300),
                      s in ".{0,40}", ips in proptest::collection::vec((any::<[u8; 4]>(), any::<u16>()), 0..30),
                      f32b in any::<[u8; 32]>()) {
            let addrs: Vec<SocketAddrV4> = ips.iter().map(|(ip, p)| SocketAddrV4::new((*ip).into(), *p)).collect();
            let mut e = Encoder::new();
            e.uint(n).uint8(a).uint16(b).uint24(c).uint32(d).uint64(e64).buffer(&buf).string(&s)
                .ipv4_array(&addrs).fixed(&f32b);
            let bytes = e.finish();
            let mut r = Decoder::new(&bytes);
            prop_assert_eq!(r.uint().unwrap(), n);
            prop_assert_eq!(r.uint8().unwrap(), a);
            prop_assert_eq!(r.uint16().unwrap(), b);
            prop_assert_eq!(r.uint24().unwrap(), c);
            prop_assert_eq!(r.uint32().unwrap(), d);
            prop_assert_eq!(r.uint64().unwrap(), e64);
            prop_assert_eq!(r.buffer().unwrap(), &buf[..]);
            prop_assert_eq!(r.string().unwrap(), &s[..]);
            prop_assert_eq!(r.ipv4_array().unwrap(), addrs);
            prop_assert_eq!(r.fixed32().unwrap(), f32b);
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut r = Decoder::new(&bytes);
            let _ = r.uint();
            let _ = r.buffer();
            let _ = r.string();
            let _ = r.ipv4_array();
            let _ = r.fixed64();
            let _ = r.uint24();
        }

        #[test]
        fn truncated_buffer_is_an_error(buf in proptest::collection::vec(any::<u8>(), 1..300), cut in any::<prop::sample::Index>()) {
            let mut e = Encoder::new();
            e.buffer(&buf);
            let bytes = e.finish();
            let cut = cut.index(bytes.len());
            let is_truncated = matches!(Decoder::new(&bytes[..cut]).buffer(), Err(DecodeError::Truncated { .. }));
            prop_assert!(is_truncated);
        }
    }
}
