//! The receive buffer shared by the handshake and the transport phase: raw bytes from
//! the socket, cut into `u16_be(len) || body` frames. Frames are decrypted in place
//! in it (see `NoiseStream`), so each byte is copied once on the way in: by the
//! kernel into this buffer, then as plaintext into the reader's buffer.

use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncRead;

use crate::MAX_FRAME_LEN;

/// First allocation of the receive buffer (the handshake and small messages).
const INITIAL_LEN: usize = 8 * 1024;
/// Largest receive buffer: four maximal frames (262,148 bytes), so one read syscall
/// takes in several frames under load.
pub(crate) const MAX_LEN: usize = 4 * (2 + MAX_FRAME_LEN);
/// Read at least this much per syscall when possible.
const MIN_READ: usize = 4 * 1024;

/// Bytes received but not yet consumed, in `buf[start..]`. The vector's capacity
/// never exceeds [`MAX_LEN`]; it is read into without zero-filling.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    /// The capacity before the last release, so a busy stream gets it back in one
    /// allocation.
    last_capacity: usize,
}

impl ReadBuffer {
    /// The body of the next complete frame, consumed. The range indexes
    /// [`ReadBuffer::bytes`] and stays valid until the next `poll_fill`.
    pub(crate) fn next_frame(&mut self) -> Option<Range<usize>> {
        let len = self.pending_frame_len()?;
        let body = self.start + 2..self.start + 2 + len;
        if body.end > self.buf.len() {
            return None;
        }
        self.start = body.end;
        Some(body)
    }

    /// Frees the buffer (only when empty).
    fn release(&mut self) {
        self.last_capacity = self.last_capacity.max(self.buf.capacity());
        crate::pool::give(std::mem::take(&mut self.buf));
        self.start = 0;
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer, writable: frames are decrypted in place.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf
    }

    /// Whether a partial frame is buffered (EOF now would be a truncation).
    pub(crate) fn has_partial(&self) -> bool {
        self.start != self.buf.len()
    }

    fn pending_frame_len(&self) -> Option<usize> {
        let header = self.buf.get(self.start..self.start + 2)?;
        Some(u16::from_be_bytes([header[0], header[1]]) as usize)
    }

    /// Reads more bytes from `io`. Returns the number read (0 at EOF). Bytes before
    /// the unconsumed ones (frames already taken) may move or be dropped.
    pub(crate) fn poll_fill<IO: AsyncRead + Unpin>(&mut self, io: &mut IO, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        let need = 2 + self.pending_frame_len().unwrap_or(0);
        let cap = self.buf.capacity();
        // Move the unread tail to the front when the frame would not fit or the free
        // space is small.
        if self.start > 0 && (self.start + need > MAX_LEN || cap - self.buf.len() < MIN_READ) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let want = (self.buf.len() + MIN_READ).max(need).clamp(INITIAL_LEN, MAX_LEN);
        if self.buf.capacity() < want {
            // Grow by doubling (or straight back to the size of a busy stream), never
            // past MAX_LEN.
            let target = (self.buf.capacity() * 2).max(want).max(self.last_capacity).min(MAX_LEN);
            if self.buf.capacity() == 0 {
                self.buf = crate::pool::take(target);
            } else {
                self.buf.reserve_exact(target - self.buf.len());
            }
        }
        let before = self.buf.len();
        // Reads into the spare capacity (no zero-filling); never grows the vector
        // because the spare capacity is at least MIN_READ.
        let polled = tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut self.buf);
        match polled {
            Poll::Pending => {
                // Quiet connection: hold no memory while nothing is buffered.
                if self.start == self.buf.len() {
                    self.release();
                }
                Poll::Pending
            }
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(self.buf.len() - before)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
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
