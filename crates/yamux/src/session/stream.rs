//! One stream's state: windows, half-closes, receive queue, waiting tasks.

use std::collections::VecDeque;
use std::task::Waker;

use bytes::{Buf as _, BytesMut};

use super::frame::{FrameType, Header, flags};
use super::{COALESCE_BELOW, Violation};
use crate::config::INITIAL_WINDOW;

const INITIAL: u32 = INITIAL_WINDOW as u32;

/// What a read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes copied.
    Data(usize),
    /// The remote half-closed the stream and everything was read.
    Eof,
    /// The stream was reset.
    Reset,
    /// The connection ended.
    Closed,
    /// Nothing yet; the waker is registered.
    Pending,
}

/// Why a stream cannot send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The stream was reset.
    #[error("stream reset")]
    Reset,
    /// We half-closed the stream already.
    #[error("stream closed for writing")]
    WriteClosed,
    /// The connection ended.
    #[error("connection closed")]
    Closed,
}

#[derive(Debug)]
pub(super) struct Stream {
    queue: VecDeque<BytesMut>,
    /// Our grant: the most the remote may have in flight plus buffered here.
    window: u32,
    /// What the remote may still send (`credit + queued + consumed == window`).
    credit: u32,
    /// Bytes the application read since the last window update.
    consumed: u32,
    send_credit: u32,
    /// Outbound, SYN not sent yet (it rides on the first frame).
    syn_pending: bool,
    /// Inbound, ACK not sent yet (it rides on the first frame).
    ack_pending: bool,
    /// Outbound: the remote acknowledged (always true inbound).
    acked: bool,
    local_closed: bool,
    remote_fin: bool,
    reset: bool,
    update_queued: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Stream {
    fn new(outbound: bool) -> Self {
        Self {
            queue: VecDeque::new(),
            window: INITIAL,
            credit: INITIAL,
            consumed: 0,
            send_credit: INITIAL,
            syn_pending: outbound,
            ack_pending: !outbound,
            acked: !outbound,
            local_closed: false,
            remote_fin: false,
            reset: false,
            update_queued: false,
            reader: None,
            writer: None,
        }
    }

    /// Chunks in the receive queue.
    #[cfg(test)]
    pub(super) fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Bytes in the receive queue.
    #[cfg(test)]
    pub(super) fn buffered(&self) -> usize {
        self.queue.iter().map(|c| c.len()).sum()
    }

    pub(super) fn outbound() -> Self {
        Self::new(true)
    }

    pub(super) fn inbound() -> Self {
        Self::new(false)
    }

    /// Records the remote's ACK; true the first time.
    pub(super) fn acknowledged(&mut self) -> bool {
        !std::mem::replace(&mut self.acked, true)
    }

    pub(super) fn unacked_outbound(&self) -> bool {
        !self.acked
    }

    pub(super) fn is_reset(&self) -> bool {
        self.reset
    }

    pub(super) fn extra_window(&self) -> usize {
        (self.window - INITIAL) as usize
    }

    pub(super) fn needs_syn(&self) -> bool {
        self.syn_pending
    }

    pub(super) fn take_syn(&mut self, id: u32) -> Header {
        self.syn_pending = false;
        Header::new(FrameType::WindowUpdate, flags::SYN, id, 0)
    }

    /// SYN / ACK for the next frame.
    fn take_open_flags(&mut self) -> u16 {
        let mut f = 0;
        if std::mem::take(&mut self.syn_pending) {
            f |= flags::SYN;
        }
        if std::mem::take(&mut self.ack_pending) {
            f |= flags::ACK;
        }
        f
    }

    /// Sends pending SYN / ACK on frames of their own, so that no frame carries
    /// ACK together with FIN or RST (py-libp2p 0.8 drops the latter then).
    fn push_open_flags(&mut self, id: u32, control: &mut VecDeque<Header>) {
        let f = self.take_open_flags();
        if f != 0 {
            control.push_back(Header::new(FrameType::WindowUpdate, f, id, 0));
        }
    }

    /// Checks a DATA frame of `len` against the window; whether to keep its body.
    pub(super) fn accept_data(&mut self, id: u32, len: u32) -> Result<bool, Violation> {
        if self.reset || self.remote_fin {
            return Ok(false);
        }
        self.credit = self.credit.checked_sub(len).ok_or(Violation::WindowExceeded(id))?;
        Ok(len > 0)
    }

    /// Queues a received body (or part of one). A small chunk is appended to a small
    /// previous one, so no two neighbours in the queue are both under
    /// [`COALESCE_BELOW`] bytes. A large previous chunk is left alone: it is a slice of
    /// the shared read buffer, and appending to it would copy it whole into a new
    /// allocation (the tail of a body split across two reads is often small).
    pub(super) fn push(&mut self, chunk: BytesMut, wake: &mut Vec<Waker>) {
        match self.queue.back_mut() {
            Some(back) if chunk.len() < COALESCE_BELOW && back.len() < COALESCE_BELOW => back.extend_from_slice(&chunk),
            _ => self.queue.push_back(chunk),
        }
        wake.extend(self.reader.take());
    }

    pub(super) fn grant(&mut self, id: u32, delta: u32, wake: &mut Vec<Waker>) -> Result<(), Violation> {
        self.send_credit = self.send_credit.checked_add(delta).ok_or(Violation::WindowOverflow(id))?;
        if delta > 0 {
            wake.extend(self.writer.take());
        }
        Ok(())
    }

    pub(super) fn fin_by_remote(&mut self, wake: &mut Vec<Waker>) {
        self.remote_fin = true;
        wake.extend(self.reader.take());
    }

    /// Returns whether the stream was an unacknowledged outbound one.
    pub(super) fn reset_by_remote(&mut self, wake: &mut Vec<Waker>) -> bool {
        self.reset = true;
        self.wake_all(wake);
        self.acknowledged()
    }

    pub(super) fn wake_all(&mut self, wake: &mut Vec<Waker>) {
        wake.extend(self.reader.take());
        wake.extend(self.writer.take());
    }

    /// Whether a window update is due now (half the window read); marks it queued.
    pub(super) fn wants_update(&mut self) -> bool {
        if self.update_queued || self.reset || self.remote_fin || self.consumed < self.window / 2 {
            return false;
        }
        self.update_queued = true;
        true
    }

    /// How much the next window update would grow the window with no budget limit:
    /// double it, up to `max` (nothing for a stream that is ending).
    pub(super) fn growth_wanted(&self, max: usize) -> usize {
        if self.reset || self.remote_fin {
            return 0;
        }
        let window = self.window as usize;
        window.min(max.saturating_sub(window))
    }

    /// The window update to send, doubling the window (within `budget`, up to `max`):
    /// a stream whose application read half its window is moving bulk data, and
    /// without a clock we cannot tell a fast reader from a slow one (the connection
    /// budget bounds what this costs).
    pub(super) fn window_update(&mut self, id: u32, budget: usize, max: usize) -> (Option<Header>, usize) {
        self.update_queued = false;
        if self.reset || self.remote_fin {
            return (None, 0);
        }
        let grow = self.growth_wanted(max).min(budget);
        let grow32 = grow as u32; // at most MAX_STREAM_WINDOW - 256 KiB
        self.window += grow32;
        let delta = self.consumed + grow32;
        if delta == 0 {
            return (None, grow);
        }
        self.consumed = 0;
        self.credit += delta;
        let f = self.take_open_flags();
        (Some(Header::new(FrameType::WindowUpdate, f, id, delta)), grow)
    }

    pub(super) fn read(&mut self, dst: &mut tokio::io::ReadBuf<'_>, waker: &Waker, closed: bool) -> ReadOutcome {
        if !self.queue.is_empty() {
            let mut n = 0;
            while dst.remaining() > 0 {
                let Some(front) = self.queue.front_mut() else { break };
                let take = front.len().min(dst.remaining());
                dst.put_slice(&front[..take]);
                front.advance(take);
                n += take;
                if front.is_empty() {
                    self.queue.pop_front();
                }
            }
            // Within the window, which fits a u32.
            self.consumed += n as u32;
            return ReadOutcome::Data(n);
        }
        if self.remote_fin {
            ReadOutcome::Eof
        } else if self.reset {
            ReadOutcome::Reset
        } else if closed {
            ReadOutcome::Closed
        } else {
            self.reader = Some(waker.clone());
            ReadOutcome::Pending
        }
    }

    pub(super) fn plan_send(&mut self, id: u32, max: usize, waker: &Waker) -> Result<Option<Header>, SendError> {
        if self.reset {
            return Err(SendError::Reset);
        }
        if self.local_closed {
            return Err(SendError::WriteClosed);
        }
        if self.send_credit == 0 {
            self.writer = Some(waker.clone());
            return Ok(None);
        }
        let n = (self.send_credit as usize).min(max) as u32;
        self.send_credit -= n;
        let f = self.take_open_flags();
        Ok(Some(Header::new(FrameType::Data, f, id, n)))
    }

    pub(super) fn unplan_send(&mut self, h: &Header) {
        self.send_credit += h.length;
        self.syn_pending |= h.has(flags::SYN);
        self.ack_pending |= h.has(flags::ACK);
    }

    /// Half-closes; closing a reset stream does nothing (as the crate).
    pub(super) fn close(&mut self, id: u32, control: &mut VecDeque<Header>) -> Result<(), SendError> {
        if !self.local_closed && !self.reset {
            self.push_open_flags(id, control);
            control.push_back(Header::new(FrameType::Data, flags::FIN, id, 0));
            self.local_closed = true;
        }
        Ok(())
    }

    /// The last frames of a stream whose handle is gone.
    pub(super) fn finish(&mut self, id: u32, control: &mut VecDeque<Header>) {
        // Closed by us already (the remote may still send: its frames for a stream we
        // forgot are ignored, as the crate does), reset, or never announced.
        if self.reset || self.local_closed || self.syn_pending {
            return;
        }
        if self.remote_fin {
            let _ = self.close(id, control);
            return;
        }
        self.push_open_flags(id, control);
        control.push_back(Header::new(FrameType::Data, flags::RST, id, 0));
    }
}
