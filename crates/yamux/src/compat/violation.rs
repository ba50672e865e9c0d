//! Noticing that the yamux crate answered a protocol violation.
//!
//! On a violation by the remote (a bad stream id, an invalid window update…) the
//! `yamux` crate sends a GoAway with an error code but keeps the connection up and
//! keeps serving it, so a peer can repeat the violation forever. We watch the frames
//! it writes: once it has sent an error GoAway, the driver ends the connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};

use futures::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const HEADER_LEN: usize = 12;
const TYPE_DATA: u8 = 0;
const TYPE_GO_AWAY: u8 = 3;

/// Set once an error GoAway has been written.
#[derive(Debug, Default)]
pub(crate) struct Violation {
    /// 0 = none; otherwise the GoAway error code + 1.
    code: AtomicU32,
    waker: AtomicWaker,
}

impl Violation {
    /// Ready with the GoAway error code once one was sent.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<u32> {
        let seen = |v: &Self| v.code.load(Ordering::Acquire).checked_sub(1);
        if let Some(code) = seen(self) {
            return Poll::Ready(code);
        }
        self.waker.register(cx.waker());
        seen(self).map_or(Poll::Pending, Poll::Ready)
    }

    fn report(&self, code: u32) {
        let _ = self.code.compare_exchange(0, code.saturating_add(1), Ordering::AcqRel, Ordering::Acquire);
        self.waker.wake();
    }
}

/// Parses the outgoing yamux frame stream (headers, and data bodies to skip).
#[derive(Debug, Default)]
struct FrameScan {
    header: [u8; HEADER_LEN],
    have: usize,
    skip: u64,
}

impl FrameScan {
    /// Feeds written bytes; returns the error code of an error GoAway among them.
    fn feed(&mut self, mut bytes: &[u8]) -> Option<u32> {
        let mut found = None;
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = usize::try_from(self.skip).map_or(bytes.len(), |s| s.min(bytes.len()));
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            let n = (HEADER_LEN - self.have).min(bytes.len());
            self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have < HEADER_LEN {
                break;
            }
            self.have = 0;
            let length = u32::from_be_bytes([self.header[8], self.header[9], self.header[10], self.header[11]]);
            match self.header[1] {
                TYPE_DATA => self.skip = u64::from(length),
                TYPE_GO_AWAY if length != 0 => found = Some(length),
                _ => {}
            }
        }
        found
    }
}

/// The connection's pipe, watched on the write side.
pub(crate) struct Watched<IO> {
    inner: IO,
    scan: FrameScan,
    violation: Arc<Violation>,
}

impl<IO> Watched<IO> {
    pub(crate) fn new(inner: IO, violation: Arc<Violation>) -> Self {
        Self { inner, scan: FrameScan::default(), violation }
    }

    fn saw(&mut self, written: &[u8]) {
        if let Some(code) = self.scan.feed(written) {
            self.violation.report(code);
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            let n = *n;
            self.saw(&buf[..n]);
        }
        polled
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ty: u8, length: u32) -> Vec<u8> {
        let mut h = vec![0, ty, 0, 0, 0, 0, 0, 1];
        h.extend_from_slice(&length.to_be_bytes());
        h
    }

    #[test]
    fn finds_an_error_go_away_across_writes_and_data_bodies() {
        let mut scan = FrameScan::default();
        let mut bytes = header(TYPE_DATA, 5);
        bytes.extend_from_slice(&header(TYPE_GO_AWAY, 1)[..5]); // a data body that looks like a GoAway
        bytes.extend_from_slice(&header(1, 100)); // window update
        bytes.extend_from_slice(&header(TYPE_GO_AWAY, 0)); // normal GoAway: not a violation
        for chunk in bytes.chunks(3) {
            assert_eq!(scan.feed(chunk), None);
        }
        let go_away = header(TYPE_GO_AWAY, 1);
        assert_eq!(scan.feed(&go_away[..7]), None);
        assert_eq!(scan.feed(&go_away[7..]), Some(1));
    }
}
