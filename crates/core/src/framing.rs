//! Unsigned-varint length-prefixed messages, with explicit maximum lengths.
//!
//! Used by identify, Kademlia and others: `uvarint(len) || bytes`. Every read states
//! the largest message it accepts; longer ones are an error before any allocation.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// Errors reading a length-prefixed message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The announced length is over the maximum.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLong {
        /// Announced length.
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// The length prefix is not a valid unsigned varint (over 9 bytes or not minimal).
    #[error("invalid length prefix")]
    InvalidVarint,
    /// The stream ended before a complete message (or cleanly before any byte when
    /// reading with [`read_length_prefixed`]).
    #[error("unexpected end of stream")]
    UnexpectedEof,
    /// I/O error.
    #[error("I/O error")]
    Io(#[from] std::io::Error),
}

impl From<FramingError> for std::io::Error {
    fn from(e: FramingError) -> Self {
        match e {
            FramingError::Io(e) => e,
            FramingError::UnexpectedEof => std::io::ErrorKind::UnexpectedEof.into(),
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Reads an unsigned varint one byte at a time (so nothing past it is consumed).
/// Returns `Ok(None)` on a clean EOF before the first byte.
pub async fn read_varint<R: AsyncRead + Unpin + ?Sized>(io: &mut R) -> Result<Option<u64>, FramingError> {
    let mut buf = [0u8; 10];
    for i in 0..buf.len() {
        let mut byte = [0u8; 1];
        if io.read(&mut byte).await? == 0 {
            return if i == 0 { Ok(None) } else { Err(FramingError::UnexpectedEof) };
        }
        buf[i] = byte[0];
        if byte[0] & 0x80 == 0 {
            let (value, _) = unsigned_varint::decode::u64(&buf[..=i]).map_err(|_| FramingError::InvalidVarint)?;
            return Ok(Some(value));
        }
    }
    Err(FramingError::InvalidVarint)
}

/// Reads one `uvarint(len) || bytes` message of at most `max` bytes.
///
/// A clean EOF before the prefix is [`FramingError::UnexpectedEof`]; use
/// [`read_length_prefixed_opt`] to tell it apart.
pub async fn read_length_prefixed<R: AsyncRead + Unpin + ?Sized>(io: &mut R, max: usize) -> Result<Vec<u8>, FramingError> {
    read_length_prefixed_opt(io, max).await?.ok_or(FramingError::UnexpectedEof)
}

/// Like [`read_length_prefixed`], but a clean EOF before the prefix is `Ok(None)`.
pub async fn read_length_prefixed_opt<R: AsyncRead + Unpin + ?Sized>(io: &mut R, max: usize) -> Result<Option<Vec<u8>>, FramingError> {
    let Some(len) = read_varint(io).await? else {
        return Ok(None);
    };
    if len > max as u64 {
        return Err(FramingError::TooLong { len, max });
    }
    let mut buf = vec![0u8; len as usize];
    io.read_exact(&mut buf).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => FramingError::UnexpectedEof,
        _ => FramingError::Io(e),
    })?;
    Ok(Some(buf))
}

/// Writes `uvarint(len) || data` in one write call (does not flush).
pub async fn write_length_prefixed<W: AsyncWrite + Unpin + ?Sized>(io: &mut W, data: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(10 + data.len());
    encode_length_prefixed(data, &mut out);
    io.write_all(&out).await
}

/// Appends `uvarint(len) || data` to `out`.
pub fn encode_length_prefixed(data: &[u8], out: &mut impl BufMut) {
    let mut len = unsigned_varint::encode::u64_buffer();
    out.put_slice(unsigned_varint::encode::u64(data.len() as u64, &mut len));
    out.put_slice(data);
}

/// A `tokio_util` codec for `uvarint(len) || bytes` frames with a maximum length.
#[derive(Debug, Clone, Copy)]
pub struct LengthPrefixedCodec {
    max_len: usize,
}

impl LengthPrefixedCodec {
    /// A codec accepting frames of at most `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self { max_len }
    }
}

impl tokio_util::codec::Decoder for LengthPrefixedCodec {
    type Item = Bytes;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, FramingError> {
        let (len, rest) = match unsigned_varint::decode::u64(src) {
            Ok(v) => v,
            Err(unsigned_varint::decode::Error::Insufficient) => return Ok(None),
            Err(_) => return Err(FramingError::InvalidVarint),
        };
        if len > self.max_len as u64 {
            return Err(FramingError::TooLong { len, max: self.max_len });
        }
        let prefix = src.len() - rest.len();
        let total = prefix + len as usize;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        src.advance(prefix);
        Ok(Some(src.split_to(len as usize).freeze()))
    }
}

impl<B: AsRef<[u8]>> tokio_util::codec::Encoder<B> for LengthPrefixedCodec {
    type Error = FramingError;

    fn encode(&mut self, item: B, dst: &mut BytesMut) -> Result<(), FramingError> {
        let data = item.as_ref();
        if data.len() > self.max_len {
            return Err(FramingError::TooLong { len: data.len() as u64, max: self.max_len });
        }
        dst.reserve(10 + data.len());
        encode_length_prefixed(data, dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::codec::{Decoder as _, Encoder as _};

    #[tokio::test]
    async fn read_write_round_trip() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_length_prefixed(&mut a, b"hello").await.unwrap();
        drop(a);
        assert_eq!(read_length_prefixed(&mut b, 5).await.unwrap(), b"hello");
        assert!(read_length_prefixed_opt(&mut b, 5).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn too_long_is_refused_before_reading() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        write_length_prefixed(&mut a, &[0u8; 100]).await.unwrap();
        let err = read_length_prefixed(&mut b, 99).await.unwrap_err();
        assert!(matches!(err, FramingError::TooLong { len: 100, max: 99 }));
    }

    #[tokio::test]
    async fn truncated_and_bad_varints() {
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[5, 1, 2]).await.unwrap();
        drop(a);
        assert!(matches!(read_length_prefixed(&mut b, 10).await, Err(FramingError::UnexpectedEof)));
        let (mut a, mut b) = tokio::io::duplex(1024);
        a.write_all(&[0xff; 11]).await.unwrap();
        assert!(matches!(read_length_prefixed(&mut b, 10).await, Err(FramingError::InvalidVarint)));
    }

    proptest::proptest! {
        #[test]
        fn codec_round_trip(msgs in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..300), 0..8)) {
            let mut codec = LengthPrefixedCodec::new(300);
            let mut buf = BytesMut::new();
            for m in &msgs {
                codec.encode(m, &mut buf).unwrap();
            }
            let mut out = Vec::new();
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                out.push(frame.to_vec());
            }
            proptest::prop_assert_eq!(out, msgs);
            proptest::prop_assert!(buf.is_empty());
        }

        #[test]
        fn codec_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut codec = LengthPrefixedCodec::new(16);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = codec.decode(&mut buf) {}
        }
    }
}
