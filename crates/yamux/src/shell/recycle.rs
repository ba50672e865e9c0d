//! Read buffers used again instead of allocated afresh.
//!
//! The driver reads into a buffer and hands slices of it to the streams, which keep
//! the allocation alive until their application has read them. A new buffer for
//! every 128 KiB read made the allocator map fresh pages and the kernel fault and
//! zero them: about a fifth of the receiving side's time in a one-stream transfer.
//! Here the driver retires a buffer it has filled; once the streams dropped every
//! slice of it, the next `take` reuses it in place.
//!
//! Memory: at most [`MAX_RETIRED`] (48) buffers of at most [`MAX_KEPT`] (256 KiB)
//! bytes wait here, for the whole process: 12 MiB at worst, about 6 MiB with the
//! driver's 128 KiB reads, enough to cover a 4 MiB stream window in flight. A
//! retired buffer whose slices are still queued costs nothing extra (the slices hold
//! that memory anyway), and a buffer only a handshake touched holds one or two
//! resident pages.

use std::sync::{Mutex, PoisonError};

use bytes::BytesMut;

/// Buffers waiting for their slices to be read.
const MAX_RETIRED: usize = 48;
/// Room allocated beyond a request: more than a yamux frame header.
const SLACK: usize = 64;
/// Larger buffers are not kept.
const MAX_KEPT: usize = 256 * 1024;

static RETIRED: Recycler = Recycler(Mutex::new(Vec::new()));

/// An empty buffer with room for at least `len` bytes: a retired one whose slices
/// are all gone if there is one, a new one otherwise.
pub(super) fn take(len: usize) -> BytesMut {
    RETIRED.take(len)
}

/// Retires `b`: its bytes are dropped, its allocation is used again once nothing
/// else refers to it.
pub(super) fn give(b: BytesMut) {
    RETIRED.give(b)
}

struct Recycler(Mutex<Vec<BytesMut>>);

impl Recycler {
    fn take(&self, len: usize) -> BytesMut {
        {
            let mut retired = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(i) = retired.iter_mut().position(|b| b.try_reclaim(len)) {
                return retired.swap_remove(i);
            }
        }
        // A little more than asked, so that a later request for the same size plus a
        // partial frame header (what the driver carries over) still fits.
        BytesMut::with_capacity(len + SLACK)
    }

    fn give(&self, mut b: BytesMut) {
        if b.capacity() == 0 || b.capacity() > MAX_KEPT {
            return;
        }
        b.clear();
        let mut retired = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if retired.len() >= MAX_RETIRED {
            retired.remove(0);
        }
        retired.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_comes_back_once_its_slices_are_gone() {
        let r = Recycler(Mutex::new(Vec::new()));
        let mut b = r.take(64 * 1024);
        b.extend_from_slice(&[7u8; 1000]);
        let slice = b.split_to(1000).freeze();
        let addr = b.as_ptr() as usize - 1000;
        r.give(b);
        // Still referenced: a new buffer comes out.
        let other = r.take(64 * 1024);
        assert_ne!(other.as_ptr() as usize, addr);
        drop(slice);
        let again = r.take(64 * 1024);
        assert_eq!(again.as_ptr() as usize, addr, "the retired buffer was not used again");
        assert!(again.is_empty() && again.capacity() >= 64 * 1024);
        // At most MAX_RETIRED wait.
        for _ in 0..MAX_RETIRED + 5 {
            r.give(BytesMut::with_capacity(1024));
        }
        assert_eq!(r.0.lock().unwrap().len(), MAX_RETIRED);
        r.give(BytesMut::with_capacity(MAX_KEPT + 1));
        assert_eq!(r.0.lock().unwrap().len(), MAX_RETIRED);
    }
}
