//! secret-stream's framing: `uint24 LE length || body`, sans-IO.

use crate::error::StreamError;

/// Bytes of the length prefix.
pub const FRAME_HEADER_LEN: usize = 3;
/// The largest frame body a uint24 can announce (Node's `MAX_ATOMIC_WRITE`, 16 MiB − 1).
pub const MAX_FRAME_LEN: usize = 0x00ff_ffff;

/// The uint24 LE prefix for a body of `len` bytes.
pub fn encode_frame_header(len: usize) -> Result<[u8; FRAME_HEADER_LEN], StreamError> {
    if len > MAX_FRAME_LEN {
        return Err(StreamError::FrameTooLarge { len, max: MAX_FRAME_LEN });
    }
    Ok([len as u8, (len >> 8) as u8, (len >> 16) as u8])
}

/// Reassembles frames from arbitrary chunks of a byte stream.
///
/// Memory: the body buffer holds at most one frame and grows only as its bytes arrive,
/// so a peer announcing a large frame and sending little costs little. A frame longer
/// than the decoder's maximum is rejected as soon as its prefix is read.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    prefix: [u8; FRAME_HEADER_LEN],
    prefix_len: usize,
    body_len: usize,
    body: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder accepting bodies of at most `max_frame_len` bytes (capped at [`MAX_FRAME_LEN`]).
    pub fn new(max_frame_len: usize) -> Self {
        Self { max: max_frame_len.min(MAX_FRAME_LEN), prefix: [0; FRAME_HEADER_LEN], prefix_len: 0, body_len: 0, body: Vec::new() }
    }

    /// The maximum body length.
    pub fn max_frame_len(&self) -> usize {
        self.max
    }

    /// True when no partial frame is buffered (a clean place for the stream to end).
    pub fn is_idle(&self) -> bool {
        self.prefix_len == 0
    }

    /// Consumes bytes from `input` up to the end of at most one frame. Returns how many
    /// bytes were used and the frame body if one completed. Call again with the rest.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Vec<u8>>), StreamError> {
        let mut used = 0;
        while self.prefix_len < FRAME_HEADER_LEN {
            let Some(&b) = input.get(used) else { return Ok((used, None)) };
            self.prefix[self.prefix_len] = b;
            self.prefix_len += 1;
            used += 1;
            if self.prefix_len == FRAME_HEADER_LEN {
                let len = usize::from(self.prefix[0]) | usize::from(self.prefix[1]) << 8 | usize::from(self.prefix[2]) << 16;
                if len > self.max {
                    return Err(StreamError::FrameTooLarge { len, max: self.max });
                }
                self.body_len = len;
            }
        }
        let rest = &input[used..];
        let missing = self.body_len - self.body.len();
        if self.body.is_empty() && rest.len() >= missing {
            // Whole body in this chunk: one exact allocation.
            let body = rest[..missing].to_vec();
            self.reset();
            return Ok((used + missing, Some(body)));
        }
        let take = missing.min(rest.len());
        self.body.reserve_exact(take);
        self.body.extend_from_slice(&rest[..take]);
        used += take;
        if self.body.len() == self.body_len {
            let body = std::mem::take(&mut self.body);
            self.reset();
            return Ok((used, Some(body)));
        }
        Ok((used, None))
    }

    fn reset(&mut self) {
        self.prefix_len = 0;
        self.body_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(body: &[u8]) -> Vec<u8> {
        let mut v = encode_frame_header(body.len()).unwrap().to_vec();
        v.extend_from_slice(body);
        v
    }

    /// Feeds `wire` in chunks of the given sizes (cycled); returns the frames.
    fn decode_all(dec: &mut FrameDecoder, wire: &[u8], chunks: &[usize]) -> Result<Vec<Vec<u8>>, StreamError> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let n = chunks.get(i % chunks.len().max(1)).copied().unwrap_or(wire.len()).max(1);
            let end = (pos + n).min(wire.len());
            let mut chunk = &wire[pos..end];
            while !chunk.is_empty() {
                let (used, frame) = dec.decode(chunk)?;
                chunk = &chunk[used..];
                out.extend(frame);
            }
            pos = end;
            i += 1;
        }
        Ok(out)
    }

    #[test]
    fn prefix_is_uint24_le() {
        assert_eq!(encode_frame_header(56).unwrap(), [0x38, 0, 0]);
        assert_eq!(encode_frame_header(0x123456).unwrap(), [0x56, 0x34, 0x12]);
        assert!(encode_frame_header(MAX_FRAME_LEN + 1).is_err());
    }

    #[test]
    fn oversize_rejected_at_prefix() {
        let mut dec = FrameDecoder::new(100);
        assert!(matches!(dec.decode(&[101, 0, 0]), Err(StreamError::FrameTooLarge { len: 101, max: 100 })));
    }

    #[test]
    fn announced_length_does_not_allocate_up_front() {
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        let (used, frame) = dec.decode(&[0xff, 0xff, 0xff, 1, 2, 3]).unwrap();
        assert_eq!((used, frame), (6, None));
        assert!(dec.body.capacity() < 1024);
        assert!(!dec.is_idle());
    }

    proptest! {
        #[test]
        fn round_trip(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
                      chunks in proptest::collection::vec(1usize..64, 1..8)) {
            let wire: Vec<u8> = bodies.iter().flat_map(|b| encode(b)).collect();
            let mut dec = FrameDecoder::new(1000);
            let got = decode_all(&mut dec, &wire, &chunks).unwrap();
            prop_assert_eq!(got, bodies);
            prop_assert!(dec.is_idle());
        }

        #[test]
        fn garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..4096),
                                chunks in proptest::collection::vec(1usize..512, 1..8),
                                max in 0usize..2048) {
            let mut dec = FrameDecoder::new(max);
            if let Ok(frames) = decode_all(&mut dec, &garbage, &chunks) {
                for f in frames { prop_assert!(f.len() <= max); }
            }
            prop_assert!(dec.body.capacity() <= max.max(1) * 2);
        }

        #[test]
        fn truncated_input_leaves_partial_state(body in proptest::collection::vec(any::<u8>(), 1..500), cut in 1usize..503) {
            let wire = encode(&body);
            let cut = cut.min(wire.len() - 1);
            let mut dec = FrameDecoder::new(1000);
            let got = decode_all(&mut dec, &wire[..cut], &[7]).unwrap();
            prop_assert!(got.is_empty());
            prop_assert!(!dec.is_idle());
            // and the rest completes it
            let rest = decode_all(&mut dec, &wire[cut..], &[3]).unwrap();
            prop_assert_eq!(rest, vec![body]);
        }
    }
}
