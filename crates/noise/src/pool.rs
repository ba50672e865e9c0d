//! A small per-thread pool of drained frame buffers.
//!
//! `NoiseStream` releases its receive and output buffers whenever they drain, so an
//! idle channel holds no buffer memory. Handing them back to the allocator made a
//! busy stream pay for fresh pages at every pause (the allocator returns large free
//! blocks to the kernel): 26,627 page faults against 1,390 for the `layers` bench
//! rows. Released buffers wait here instead, for the next stream polled on the same
//! thread.
//!
//! Bound: at most [`POOL_BUFFERS`] buffers of at most [`MAX_POOLED_CAPACITY`] bytes
//! per thread that polls Noise streams (4 × 262,148 bytes ≈ 1 MiB).

use std::cell::RefCell;

use crate::buffer::MAX_LEN;

/// Buffers kept per thread.
pub(crate) const POOL_BUFFERS: usize = 4;
/// Largest buffer kept (the receive and output buffers' maximum).
pub(crate) const MAX_POOLED_CAPACITY: usize = MAX_LEN;

thread_local! {
    static FREE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with at least `capacity` bytes of room.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    let pooled = FREE.try_with(|free| free.borrow_mut().pop()).ok().flatten();
    match pooled {
        Some(mut buf) => {
            buf.reserve_exact(capacity);
            buf
        }
        None => Vec::with_capacity(capacity),
    }
}

/// Returns a buffer to this thread's pool (dropped when the pool is full or the
/// buffer is empty or too large).
pub(crate) fn give(mut buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > MAX_POOLED_CAPACITY {
        return;
    }
    buf.clear();
    let _ = FREE.try_with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < POOL_BUFFERS {
            free.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_reused() {
        for _ in 0..10 {
            give(Vec::with_capacity(1000));
        }
        give(Vec::with_capacity(MAX_POOLED_CAPACITY + 1));
        assert_eq!(FREE.with(|f| f.borrow().len()), POOL_BUFFERS);
        let buf = take(10);
        assert!(buf.is_empty() && buf.capacity() >= 1000);
        assert_eq!(FREE.with(|f| f.borrow().len()), POOL_BUFFERS - 1);
        let big = take(5000);
        assert!(big.capacity() >= 5000);
    }
}
