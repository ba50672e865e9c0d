//! The sans-IO yamux session: frame parsing, stream states and windows.
//!
//! [`Session::receive`] consumes bytes read from the connection; the methods the
//! stream handles call ([`Session::read`], [`Session::plan_send`], [`Session::close`],
//! [`Session::drop_stream`]) change the state; frames without a body come out of
//! [`Session::next_control`]. The session never does I/O and keeps no clock: it
//! stores the wakers of the tasks waiting on a stream and moves them to
//! [`Session::wake`] when they should run (the shell wakes them after unlocking).
//!
//! Bounds: at most `max_streams` streams (a SYN beyond is answered with RST); at
//! most [`ACK_BACKLOG`] outbound streams not yet acknowledged; at most
//! [`MAX_PEER_CONTROL`] queued frames answering the remote (pongs, refusals; more
//! are dropped); the other queued frames are at most two per stream plus a GoAway;
//! a stream's receive queue holds at most its window in bytes, in chunks of which no
//! two neighbours are both under [`COALESCE_BELOW`] bytes (so at most about two
//! chunks per 4 KiB of window).

mod frame;
mod pool;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::task::Waker;

use bytes::{Buf as _, BytesMut};
pub use frame::{FrameType, HEADER_LEN, Header, HeaderError, flags, go_away};
pub use pool::WindowPool;
use stream::Stream;
pub use stream::{ReadOutcome, SendError};

use crate::config::{INITIAL_WINDOW, MAX_STREAM_WINDOW};

/// Outbound streams that may wait for the remote's ACK (as the yamux crate).
pub const ACK_BACKLOG: usize = 256;
/// Queued frames answering the remote (pongs, RSTs of refused streams); beyond
/// this they are dropped: a peer that floods us without reading gets no answers.
pub const MAX_PEER_CONTROL: usize = 256;
/// Received chunks smaller than this are copied onto the previous chunk of the
/// stream's queue, so tiny frames cannot make the queue long.
pub const COALESCE_BELOW: usize = 4096;

/// The session's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Concurrent streams, both directions.
    pub max_streams: usize,
    /// Largest receive window of one stream (256 KiB ..= 16 MiB).
    pub max_stream_window: usize,
}

/// Why a remote's bytes end the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// An undecodable header.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// A DATA body larger than the largest window we grant.
    #[error("DATA frame of {0} bytes exceeds the largest window we grant")]
    FrameTooLarge(u32),
    /// More data than the window we granted.
    #[error("stream {0} sent beyond its receive window")]
    WindowExceeded(u32),
    /// A SYN for stream 0, for one of our ids, or for a stream already open.
    #[error("invalid stream id {0} in SYN")]
    BadStreamId(u32),
    /// A window update that overflows the send window.
    #[error("window update overflows stream {0}'s window")]
    WindowOverflow(u32),
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Streams can be opened.
    Open,
    /// We sent a GoAway with this code: no new streams either way.
    GoingAway(u32),
    /// The connection ended: every stream fails.
    Closed,
}

/// What the remote's bytes did, beyond stream states.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The remote sent a GoAway with this code.
    pub go_away: Option<u32>,
}

/// A DATA body being read: its stream (if we keep its data) and what is left.
#[derive(Debug, Clone, Copy)]
struct Body {
    stream: u32,
    left: usize,
    keep: bool,
    /// FIN / RST of the frame, applied after its body.
    flags: u16,
}

/// A yamux session (one connection).
#[derive(Debug)]
pub struct Session {
    client: bool,
    limits: Limits,
    streams: HashMap<u32, Stream>,
    next_id: u32,
    /// Outbound streams not yet acknowledged.
    unacked: usize,
    /// Window granted beyond the initial 256 KiB, summed over the streams; at most
    /// `max_stream_window - 256 KiB`.
    extra_window: usize,
    /// Where window growth comes from, shared with the node's other connections
    /// (`None`: only `max_stream_window` bounds it).
    pool: Option<Arc<WindowPool>>,
    control: VecDeque<Header>,
    /// How many of `control` answer the remote.
    peer_control: usize,
    /// Streams owing a window update, each once.
    updates: VecDeque<u32>,
    /// Inbound streams opened by the remote, not yet taken by the shell.
    accepted: VecDeque<u32>,
    body: Option<Body>,
    state: State,
    /// Wakers to wake once the caller released the session.
    pub wake: Vec<Waker>,
}

impl Drop for Session {
    /// The live streams' window growth goes back to the pool.
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.give(self.extra_window);
        }
    }
}

impl Session {
    /// A session for the dialer (`client`, odd ids) or the listener (even ids).
    pub fn new(client: bool, limits: Limits) -> Self {
        let limits = Limits {
            max_streams: limits.max_streams.max(1),
            max_stream_window: limits.max_stream_window.clamp(INITIAL_WINDOW, MAX_STREAM_WINDOW),
        };
        Self {
            client,
            limits,
            streams: HashMap::new(),
            next_id: if client { 1 } else { 2 },
            unacked: 0,
            extra_window: 0,
            pool: None,
            control: VecDeque::new(),
            peer_control: 0,
            updates: VecDeque::new(),
            accepted: VecDeque::new(),
            body: None,
            state: State::Open,
            wake: Vec::new(),
        }
    }

    /// Takes window growth from `pool` (shared by the node's connections) as well
    /// as bounding it by `max_stream_window`.
    pub fn with_pool(mut self, pool: Arc<WindowPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// Live streams.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// The session's limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// An inbound stream the remote opened, to hand to the application.
    pub fn next_accepted(&mut self) -> Option<u32> {
        self.accepted.pop_front()
    }

    /// Whether frames without a body wait to be sent.
    pub fn has_control(&self) -> bool {
        !self.control.is_empty() || !self.updates.is_empty()
    }

    /// The next frame without a body to send.
    pub fn next_control(&mut self) -> Option<Header> {
        if let Some(h) = self.control.pop_front() {
            if is_peer_answer(&h) {
                self.peer_control = self.peer_control.saturating_sub(1);
            }
            return Some(h);
        }
        while let Some(id) = self.updates.pop_front() {
            let mut budget = (self.limits.max_stream_window - INITIAL_WINDOW).saturating_sub(self.extra_window);
            if let Some(s) = self.streams.get_mut(&id) {
                if let Some(pool) = &self.pool {
                    // Only what this update can use, so other connections are not
                    // refused growth while it is held.
                    budget = pool.take(budget.min(s.growth_wanted(self.limits.max_stream_window)));
                }
                let (header, grew) = s.window_update(id, budget, self.limits.max_stream_window);
                if let Some(pool) = &self.pool {
                    pool.give(budget - grew);
                }
                self.extra_window += grew;
                if let Some(h) = header {
                    return Some(h);
                }
            }
        }
        None
    }

    /// Puts back a frame from [`Session::next_control`] that could not be written.
    pub fn requeue_control(&mut self, h: Header) {
        if is_peer_answer(&h) {
            self.peer_control += 1;
        }
        self.control.push_front(h);
    }

    /// Opens an outbound stream; `Ok(None)` while [`ACK_BACKLOG`] streams wait for
    /// their ACK (try again after the next [`Session::receive`]).
    pub fn open(&mut self) -> Result<Option<u32>, OpenError> {
        if self.state != State::Open {
            return Err(OpenError::Closed);
        }
        if self.streams.len() >= self.limits.max_streams {
            return Err(OpenError::TooManyStreams);
        }
        if self.unacked >= ACK_BACKLOG {
            return Ok(None);
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2).ok_or(OpenError::Closed)?;
        self.streams.insert(id, Stream::outbound());
        self.unacked += 1;
        Ok(Some(id))
    }

    /// Whether an open would wait for ACKs.
    pub fn ack_backlog_full(&self) -> bool {
        self.unacked >= ACK_BACKLOG
    }

    /// Sends a GoAway with `code`; no stream opens either way afterwards.
    pub fn go_away(&mut self, code: u32) {
        if self.state == State::Open {
            self.control.push_back(Header::new(FrameType::GoAway, 0, 0, code));
            self.state = State::GoingAway(code);
        }
    }

    /// The connection ended: every waiting task wakes to an error or EOF.
    pub fn close_all(&mut self) {
        self.state = State::Closed;
        for s in self.streams.values_mut() {
            s.wake_all(&mut self.wake);
        }
        self.control.clear();
        self.updates.clear();
        self.peer_control = 0;
    }

    /// Consumes the complete frames (and partial DATA bodies) at the front of `buf`.
    pub fn receive(&mut self, buf: &mut BytesMut) -> Result<Received, Violation> {
        let mut out = Received::default();
        loop {
            if let Some(mut body) = self.body {
                let n = body.left.min(buf.len());
                if n > 0 {
                    let chunk = buf.split_to(n);
                    if body.keep
                        && let Some(s) = self.streams.get_mut(&body.stream)
                    {
                        s.push(chunk, &mut self.wake);
                    }
                    body.left -= n;
                }
                if body.left > 0 {
                    self.body = Some(body);
                    return Ok(out);
                }
                self.body = None;
                self.end_of_frame(body.stream, body.flags);
                continue;
            }
            if buf.len() < HEADER_LEN {
                return Ok(out);
            }
            let mut raw = [0u8; HEADER_LEN];
            raw.copy_from_slice(&buf[..HEADER_LEN]);
            buf.advance(HEADER_LEN);
            let h = Header::decode(&raw)?;
            match h.ty {
                FrameType::Data => {
                    if h.length as usize > self.limits.max_stream_window {
                        return Err(Violation::FrameTooLarge(h.length));
                    }
                    let keep = self.on_stream_flags(&h)?;
                    let keep = keep
                        && match self.streams.get_mut(&h.stream) {
                            Some(s) => s.accept_data(h.stream, h.length)?,
                            None => false,
                        };
                    self.body = Some(Body { stream: h.stream, left: h.length as usize, keep, flags: h.flags });
                }
                FrameType::WindowUpdate => {
                    if self.on_stream_flags(&h)?
                        && let Some(s) = self.streams.get_mut(&h.stream)
                    {
                        s.grant(h.stream, h.length, &mut self.wake)?;
                    }
                    self.end_of_frame(h.stream, h.flags);
                }
                FrameType::Ping => {
                    if h.has(flags::SYN) && self.state != State::Closed {
                        self.answer(Header::new(FrameType::Ping, flags::ACK, 0, h.length));
                    }
                }
                FrameType::GoAway => {
                    out.go_away = Some(h.length);
                    return Ok(out);
                }
            }
        }
    }

    /// Handles SYN and ACK; returns whether the frame's stream is one we serve.
    fn on_stream_flags(&mut self, h: &Header) -> Result<bool, Violation> {
        if h.has(flags::SYN) {
            return self.on_syn(h.stream);
        }
        let Some(s) = self.streams.get_mut(&h.stream) else { return Ok(false) };
        if h.has(flags::ACK) && s.acknowledged() {
            self.unacked = self.unacked.saturating_sub(1);
        }
        Ok(!s.is_reset())
    }

    fn on_syn(&mut self, id: u32) -> Result<bool, Violation> {
        let ours = id % 2 == u32::from(self.client);
        if id == 0 || ours || self.streams.contains_key(&id) {
            return Err(Violation::BadStreamId(id));
        }
        if self.state != State::Open || self.streams.len() >= self.limits.max_streams {
            self.answer(Header::new(FrameType::WindowUpdate, flags::RST, id, 0));
            return Ok(false);
        }
        self.streams.insert(id, Stream::inbound());
        self.accepted.push_back(id);
        Ok(true)
    }

    /// Applies FIN / RST after a frame's body.
    fn end_of_frame(&mut self, id: u32, frame_flags: u16) {
        if frame_flags & (flags::FIN | flags::RST) == 0 {
            return;
        }
        if let Some(s) = self.streams.get_mut(&id) {
            if frame_flags & flags::RST != 0 {
                if s.reset_by_remote(&mut self.wake) {
                    self.unacked = self.unacked.saturating_sub(1);
                }
            } else {
                s.fin_by_remote(&mut self.wake);
            }
        }
    }

    fn answer(&mut self, h: Header) {
        if self.peer_control < MAX_PEER_CONTROL {
            self.peer_control += 1;
            self.control.push_back(h);
        }
    }

    fn queue_update(&mut self, id: u32) {
        if let Some(s) = self.streams.get_mut(&id)
            && s.wants_update()
        {
            self.updates.push_back(id);
        }
    }

    /// Reads buffered data of stream `id` into `dst`; registers `waker` when there
    /// is none yet.
    pub fn read(&mut self, id: u32, dst: &mut tokio::io::ReadBuf<'_>, waker: &Waker) -> ReadOutcome {
        let closed = self.state == State::Closed;
        let Some(s) = self.streams.get_mut(&id) else { return ReadOutcome::Reset };
        if s.needs_syn() && !closed {
            // Reading before writing: open the stream now so the remote can speak first.
            self.control.push_back(s.take_syn(id));
        }
        let got = s.read(dst, waker, closed);
        if matches!(got, ReadOutcome::Data(_)) {
            self.queue_update(id);
        }
        got
    }

    /// Plans a DATA frame of at most `max` body bytes on stream `id`; registers
    /// `waker` while the send window is empty.
    pub fn plan_send(&mut self, id: u32, max: usize, waker: &Waker) -> Result<Option<Header>, SendError> {
        if self.state == State::Closed {
            return Err(SendError::Closed);
        }
        let s = self.streams.get_mut(&id).ok_or(SendError::Reset)?;
        s.plan_send(id, max, waker)
    }

    /// Gives back body bytes planned by [`Session::plan_send`] but never written
    /// (the pipe took nothing).
    pub fn unplan_send(&mut self, id: u32, header: &Header) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.unplan_send(header);
        }
    }

    /// Half-closes stream `id` (FIN).
    pub fn close(&mut self, id: u32) -> Result<(), SendError> {
        if self.state == State::Closed {
            return Err(SendError::Closed);
        }
        let s = self.streams.get_mut(&id).ok_or(SendError::Reset)?;
        s.close(id, &mut self.control)
    }

    /// The stream's handle is gone: finish it (FIN if the remote finished, RST
    /// otherwise) and forget it.
    pub fn drop_stream(&mut self, id: u32) {
        let Some(mut s) = self.streams.remove(&id) else { return };
        if self.streams.is_empty() {
            // An idle session keeps no table (a connection serves a stream, then idles).
            self.streams = Default::default();
        }
        let extra = s.extra_window().min(self.extra_window);
        self.extra_window -= extra;
        if let Some(pool) = &self.pool {
            pool.give(extra);
        }
        if s.unacked_outbound() {
            self.unacked = self.unacked.saturating_sub(1);
        }
        if self.state != State::Closed {
            s.finish(id, &mut self.control);
        }
    }
}

fn is_peer_answer(h: &Header) -> bool {
    h.ty == FrameType::Ping || (h.ty == FrameType::WindowUpdate && h.flags == flags::RST)
}

/// Why no stream could be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The session is going away or closed.
    #[error("connection closed")]
    Closed,
    /// `max_streams` streams are open.
    #[error("too many streams")]
    TooManyStreams,
}
