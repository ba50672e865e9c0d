//! The receive buffer shared by the handshake and the transport phase: raw bytes from
//! the socket, cut into `u16_be(len) || body` frames.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::MAX_FRAME_LEN;

/// First allocation of the receive buffer.
const INITIAL_LEN: usize = 8 * 1024;
/// Largest receive buffer: room for two maximal frames, so one read can take in more
/// than a frame under load.
const MAX_LEN: usize = 2 * (2 + MAX_FRAME_LEN);
/// Read at least this much per syscall when possible.
const MIN_READ: usize = 4 * 1024;

/// Bytes received but not yet consumed, in `buf[start..end]`.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuffer {
    /// The body of the next complete frame, consumed. The range indexes
    /// [`ReadBuffer::bytes`] and stays valid until the next `poll_fill`.
    pub(crate) fn next_frame(&mut self) -> Option<Range<usize>> {
        let len = self.pending_frame_len()?;
        let body = self.start + 2..self.start + 2 + len;
        if body.end > self.end {
            return None;
        }
        self.start = body.end;
        Some(body)
    }

    /// Frees the buffer (only when empty).
    fn release(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Whether a partial frame is buffered (EOF now would be a truncation).
    pub(crate) fn has_partial(&self) -> bool {
        self.start != self.end
    }

    fn pending_frame_len(&self) -> Option<usize> {
        let header = self.buf.get(self.start..self.start + 2).filter(|_| self.end >= self.start + 2)?;
        Some(u16::from_be_bytes([header[0], header[1]]) as usize)
    }

    /// Reads more bytes from `io`. Returns the number read (0 at EOF).
    pub(crate) fn poll_fill<IO: AsyncRead + Unpin>(&mut self, io: &mut IO, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        let need = 2 + self.pending_frame_len().unwrap_or(0);
        // Move the unread tail to the front when the frame would not fit or the free
        // space is small.
        if self.start > 0 && (self.buf.len() - self.start < need || self.buf.len() - self.end < MIN_READ) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let want = (self.end + MIN_READ).max(need).clamp(INITIAL_LEN, MAX_LEN);
        if self.buf.len() < want {
            // Grow in steps (doubling) up to MAX_LEN; zero-filled once, then reused.
            let new_len = (self.buf.len() * 2).max(want).min(MAX_LEN);
            self.buf.resize(new_len, 0);
        }
        let mut rb = ReadBuf::new(&mut self.buf[self.end..]);
        if Pin::new(io).poll_read(cx, &mut rb)?.is_pending() {
            // Quiet connection: hold no memory while nothing is buffered.
            if self.start == self.end {
                self.release();
            }
            return Poll::Pending;
        }
        let n = rb.filled().len();
        self.end += n;
        Poll::Ready(Ok(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_split_across_reads_and_many_per_read() {
        let mut wire = Vec::new();
        for len in [0usize, 1, 300, 65535, 5] {
            wire.extend_from_slice(&(len as u16).to_be_bytes());
            wire.extend(std::iter::repeat_n(len as u8, len));
        }
        // Feed through a pipe in odd-sized pieces.
        let (mut a, mut b) = tokio::io::duplex(977);
        let writer = tokio::spawn(async move {
            tokio::io::AsyncWriteExt::write_all(&mut a, &wire).await.unwrap();
        });
        let mut rb = ReadBuffer::default();
        let mut got = Vec::new();
        while got.len() < 5 {
            if let Some(r) = rb.next_frame() {
                got.push(rb.bytes()[r].to_vec());
                continue;
            }
            let n = std::future::poll_fn(|cx| rb.poll_fill(&mut b, cx)).await.unwrap();
            assert!(n > 0);
        }
        writer.await.unwrap();
        let lens: Vec<usize> = got.iter().map(Vec::len).collect();
        assert_eq!(lens, [0, 1, 300, 65535, 5]);
        assert!(got[3].iter().all(|&b| b == 255));
        assert!(!rb.has_partial());
    }
}
