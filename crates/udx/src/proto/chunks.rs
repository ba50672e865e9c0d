//! Byte queues without reallocation: [`Pending`] (bytes written and not yet cut into
//! packets) and [`Arena`] (payloads received in order).
//!
//! Both append into chunks that are never regrown and hand out `Bytes` slices of them,
//! so a payload is copied once and never moved again: a growing `BytesMut` whose front
//! was split off (and is still referenced by packets in flight) must copy all it holds
//! to grow, which on a bulk stream was a third of the send side's copying.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Chunk size: large enough that a packet rarely straddles two, small enough to stay
/// in cache between the write and the packet cut.
pub(crate) const CHUNK: usize = 64 * 1024;
/// The smallest chunk: about one packet.
const MIN_CHUNK: usize = 1536;
/// The arena's first chunk after it was released (a trickle pins little).
const FIRST_ARENA_CHUNK: usize = 4 * 1024;

/// Unsent bytes: full chunks in order, then the chunk being filled.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    full: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl Pending {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `data` in, filling the current chunk and starting new ones.
    pub(crate) fn extend_from_slice(&mut self, mut data: &[u8]) {
        self.len += data.len();
        // bounded: each round fills a chunk or ends
        while !data.is_empty() {
            if self.tail.capacity() == self.tail.len() {
                self.seal_tail();
                // Sized by the write: a small write must not pin a large chunk (its
                // packet holds the chunk until acked).
                self.tail = BytesMut::with_capacity(data.len().clamp(MIN_CHUNK, 4 * CHUNK));
            }
            let n = (self.tail.capacity() - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
    }

    /// Moves what the current chunk holds to the queue (its spare room stays with it).
    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.full.push_back(self.tail.split().freeze());
        }
    }

    /// The next `n` bytes (at most `len`): a slice of one chunk, or a copy of the pieces
    /// when they straddle chunks.
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len);
        if n == 0 {
            return Bytes::new();
        }
        self.len -= n;
        if self.len == 0 && self.full.is_empty() {
            // The last bytes: hand out the chunk's data and let its spare room go, so an
            // idle stream holds no chunk.
            return std::mem::take(&mut self.tail).freeze();
        }
        if let Some(front) = self.full.front_mut() {
            if front.len() > n {
                return front.split_to(n);
            }
            if front.len() == n {
                return self.full.pop_front().unwrap_or_default();
            }
            let mut joined = BytesMut::with_capacity(n);
            // bounded: every round takes a whole piece, the last a part
            while joined.len() < n {
                let want = n - joined.len();
                match self.full.front_mut() {
                    Some(f) if f.len() <= want => {
                        joined.extend_from_slice(f);
                        self.full.pop_front();
                    }
                    Some(f) => joined.extend_from_slice(&f.split_to(want)),
                    None => joined.extend_from_slice(&self.tail.split_to(want.min(self.tail.len()))),
                }
            }
            return joined.freeze();
        }
        self.tail.split_to(n).freeze()
    }
}

/// Where in-order payloads are copied: one chunk at a time, each payload a `Bytes`
/// slice of it (no allocation per packet). A chunk is freed when its last slice is read,
/// so a stream holds at most one chunk beyond its unread bytes, and none once
/// [`release`](Self::release)d.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    chunk: BytesMut,
    /// Size of the next chunk: doubles from `FIRST_ARENA_CHUNK` up to `CHUNK` while
    /// chunks fill up.
    next: usize,
}

impl Arena {
    pub(crate) fn copy(&mut self, data: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < data.len() {
            let size = self.next.clamp(FIRST_ARENA_CHUNK, CHUNK);
            self.next = size.saturating_mul(2);
            self.chunk = BytesMut::with_capacity(size.max(data.len()));
        }
        self.chunk.extend_from_slice(data);
        self.chunk.split().freeze()
    }

    /// Lets the current chunk go (everything read: an idle stream keeps no chunk).
    pub(crate) fn release(&mut self) {
        self.chunk = BytesMut::new();
        self.next = FIRST_ARENA_CHUNK;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pending_is_a_fifo(ops in proptest::collection::vec((0u8..2, 1usize..150_000), 1..60)) {
            let mut p = Pending::default();
            let (mut model, mut next) = (std::collections::VecDeque::new(), 0u8);
            for (op, n) in ops {
                match op {
                    0 => {
                        let data: Vec<u8> = (0..n).map(|_| { next = next.wrapping_add(1); next }).collect();
                        model.extend(data.iter().copied());
                        p.extend_from_slice(&data);
                    }
                    _ => {
                        let got = p.split_to(n % 1500 + 1);
                        let want: Vec<u8> = model.drain(..got.len()).collect();
                        prop_assert_eq!(&got[..], &want[..]);
                    }
                }
                prop_assert_eq!(p.len(), model.len());
            }
            let rest = p.split_to(usize::MAX);
            prop_assert_eq!(rest.len(), model.len());
            prop_assert_eq!(&rest[..], &model.iter().copied().collect::<Vec<_>>()[..]);
            prop_assert!(p.is_empty());
        }
    }

    #[test]
    fn arena_slices_share_a_chunk_and_roll_over() {
        let mut a = Arena::default();
        let x = a.copy(&[1; 1000]);
        let y = a.copy(&[2; 1000]);
        assert_eq!((&x[..], &y[..]), (&[1u8; 1000][..], &[2u8; 1000][..]));
        assert_eq!(x.as_ptr().wrapping_add(1000), y.as_ptr(), "one chunk");
        assert_eq!(a.chunk.capacity(), FIRST_ARENA_CHUNK - 2000, "a trickle gets a small chunk");
        for _ in 0..200 {
            a.copy(&[4; 1000]);
        }
        assert!(a.chunk.capacity() + a.chunk.len() <= CHUNK && a.next == 2 * CHUNK, "chunks grew to CHUNK");
        let big = a.copy(&vec![3; CHUNK + 1]);
        assert_eq!(big.len(), CHUNK + 1);
        a.release();
        assert_eq!((a.chunk.capacity(), a.next), (0, FIRST_ARENA_CHUNK));
    }
}
