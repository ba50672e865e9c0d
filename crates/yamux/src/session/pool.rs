//! Receive-window growth shared by every connection of one node.
//!
//! Every stream starts with the 256 KiB window the spec fixes. A stream whose
//! application keeps reading gets its window doubled, up to the configured maximum,
//! so a single stream can fill a fast link; the bytes it grows by come out of one
//! pool per [`Config`](crate::Config) (one node), so that however many connections
//! there are, growth beyond the initial windows never buffers more than the pool.
//! A stream gives its growth back when it ends, a session when it is dropped.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of window growth left to hand out.
#[derive(Debug)]
pub struct WindowPool {
    left: AtomicUsize,
    size: usize,
}

impl WindowPool {
    /// A pool of `bytes`.
    pub fn new(bytes: usize) -> Self {
        Self { left: AtomicUsize::new(bytes), size: bytes }
    }

    /// The pool's size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Bytes not handed out now.
    pub fn available(&self) -> usize {
        self.left.load(Ordering::Acquire)
    }

    /// Takes up to `want` bytes; returns how many it took.
    pub(crate) fn take(&self, want: usize) -> usize {
        let mut got = 0;
        let _ = self.left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            got = left.min(want);
            Some(left - got)
        });
        got
    }

    /// Gives `n` bytes back.
    pub(crate) fn give(&self, n: usize) {
        if n > 0 {
            self.left.fetch_add(n, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_no_more_than_is_left_and_gets_it_back() {
        let p = WindowPool::new(100);
        assert_eq!(p.take(60), 60);
        assert_eq!(p.take(60), 40);
        assert_eq!(p.take(1), 0);
        p.give(100);
        assert_eq!(p.available(), 100);
    }
}
