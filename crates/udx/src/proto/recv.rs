//! The receive side: in-order delivery, the out-of-order buffer, SACK blocks and
//! the advertised window. Every buffer here is bounded by the window.

use std::collections::VecDeque;

use bytes::Bytes;

use super::chunks::Arena;
use crate::header::{MAX_SACKS, flags, seq_diff};

/// What happened to one DATA/END packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// New data (in order or buffered).
    New,
    /// Already had it (seq below the ack or already buffered).
    Duplicate,
    /// Beyond what we buffer; the peer will retransmit.
    Dropped,
}

#[derive(Debug)]
struct Held {
    flags: u8,
    data: Bytes,
}

/// The receive buffers of one stream.
#[derive(Debug)]
pub(crate) struct Recv {
    ack: u32,
    /// Index `i` holds seq `ack + i` (index 0 is always empty).
    ooo: VecDeque<Option<Held>>,
    ooo_packets: usize,
    ooo_bytes: usize,
    readable: VecDeque<Bytes>,
    readable_bytes: usize,
    /// Seq of the peer's END packet, once seen.
    remote_end: Option<u32>,
    window: usize,
    max_ooo: usize,
    arena: Arena,
}

impl Recv {
    pub(crate) fn new(window: usize, max_ooo: usize) -> Self {
        Recv {
            ack: 0,
            ooo: VecDeque::new(),
            ooo_packets: 0,
            ooo_bytes: 0,
            readable: VecDeque::new(),
            readable_bytes: 0,
            remote_end: None,
            window,
            max_ooo: max_ooo.max(1),
            arena: Arena::default(),
        }
    }

    /// The cumulative ack (next seq expected).
    pub(crate) fn ack(&self) -> u32 {
        self.ack
    }

    /// Whether out-of-order packets are held (the next ack carries SACK blocks).
    pub(crate) fn has_gaps(&self) -> bool {
        self.ooo_packets > 0
    }

    /// Buffered bytes (readable + out of order).
    pub(crate) fn buffered(&self) -> usize {
        self.readable_bytes + self.ooo_bytes
    }

    /// The window to advertise: the window minus unread in-order bytes, as
    /// libudx computes it (out-of-order bytes are bounded separately).
    pub(crate) fn rwnd(&self) -> u32 {
        u32::try_from(self.window.saturating_sub(self.readable_bytes)).unwrap_or(u32::MAX)
    }

    /// The configured window.
    pub(crate) fn window(&self) -> usize {
        self.window
    }

    /// Whether `seq` is at or after the ack and inside the buffering window
    /// (where a DESTROY is believed).
    pub(crate) fn in_window(&self, seq: u32) -> bool {
        usize::try_from(seq_diff(seq, self.ack)).is_ok_and(|d| d < self.max_ooo)
    }

    /// Whether everything up to and including the peer's END was delivered.
    pub(crate) fn is_finished(&self) -> bool {
        self.remote_end.is_some_and(|e| seq_diff(self.ack, e) > 0)
    }

    /// Whether the reader has consumed everything, EOF included.
    pub(crate) fn eof_readable(&self) -> bool {
        self.is_finished() && self.readable.is_empty()
    }

    /// Feeds one DATA and/or END packet.
    pub(crate) fn on_packet(&mut self, seq: u32, pkt_flags: u8, payload: &[u8]) -> Accepted {
        let d = seq_diff(seq, self.ack);
        if d < 0 {
            return Accepted::Duplicate;
        }
        let d = d as usize;
        if d >= self.max_ooo {
            return Accepted::Dropped;
        }
        // Hard cap: twice the window (the peer may overshoot by its retransmits).
        if self.buffered() + payload.len() > self.window.saturating_mul(2) {
            return Accepted::Dropped;
        }
        if self.remote_end.is_some_and(|e| seq_diff(seq, e) > 0) {
            return Accepted::Dropped; // nothing valid follows END
        }
        if d == 0 {
            let data = self.arena.copy(payload);
            self.deliver(seq, pkt_flags, data);
            self.ooo.pop_front();
            self.drain_in_order();
            return Accepted::New;
        }
        if self.ooo.len() <= d {
            self.ooo.resize_with(d + 1, || None);
        }
        match &mut self.ooo[d] {
            Some(_) => Accepted::Duplicate,
            slot => {
                *slot = Some(Held { flags: pkt_flags, data: Bytes::copy_from_slice(payload) });
                self.ooo_packets += 1;
                self.ooo_bytes += payload.len();
                Accepted::New
            }
        }
    }

    fn deliver(&mut self, seq: u32, pkt_flags: u8, data: Bytes) {
        if pkt_flags & flags::DATA != 0 && !data.is_empty() {
            self.readable_bytes += data.len();
            self.readable.push_back(data);
        }
        if pkt_flags & flags::END != 0 {
            self.remote_end = Some(seq);
        }
        self.ack = self.ack.wrapping_add(1);
    }

    fn drain_in_order(&mut self) {
        while let Some(Some(_)) = self.ooo.front() {
            let Some(Some(held)) = self.ooo.pop_front() else { break };
            self.ooo_packets -= 1;
            self.ooo_bytes -= held.data.len();
            let seq = self.ack;
            self.deliver(seq, held.flags, held.data);
        }
        if self.ooo_packets == 0 {
            self.ooo.clear();
        }
    }

    /// Copies readable bytes into `buf`; returns how many.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = self.readable.front_mut() else { break };
            let take = front.len().min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&front[..take]);
            n += take;
            if take == front.len() {
                self.readable.pop_front();
            } else {
                let _ = front.split_to(take);
            }
        }
        self.readable_bytes -= n;
        if self.readable.is_empty() {
            self.arena.release();
        }
        n
    }

    /// The SACK blocks `(start, end exclusive)` describing held packets, at most 50.
    pub(crate) fn sack_blocks(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let mut run: Option<(u32, u32)> = None;
        for (i, slot) in self.ooo.iter().enumerate().skip(1) {
            let seq = self.ack.wrapping_add(i as u32);
            match (slot.is_some(), run) {
                (true, None) => run = Some((seq, seq.wrapping_add(1))),
                (true, Some((s, _))) => run = Some((s, seq.wrapping_add(1))),
                (false, Some(r)) => {
                    out.push(r);
                    run = None;
                    if out.len() == MAX_SACKS {
                        return out;
                    }
                }
                (false, None) => {}
            }
        }
        if let Some(r) = run {
            out.push(r);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_sacks_and_ends() {
        let mut r = Recv::new(1 << 20, 1024);
        assert_eq!(r.on_packet(1, flags::DATA, b"b"), Accepted::New);
        assert_eq!(r.on_packet(3, flags::DATA | flags::END, b"d"), Accepted::New);
        assert_eq!(r.on_packet(3, flags::DATA, b"d"), Accepted::Duplicate);
        assert_eq!(r.sack_blocks(), vec![(1, 2), (3, 4)]);
        assert_eq!(r.ack(), 0);
        assert_eq!(r.on_packet(0, flags::DATA, b"a"), Accepted::New);
        assert_eq!(r.ack(), 2);
        assert_eq!(r.sack_blocks(), vec![(3, 4)]);
        assert_eq!(r.on_packet(2, flags::DATA, b"c"), Accepted::New);
        assert!(r.is_finished());
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf), 4);
        assert_eq!(&buf[..4], b"abcd");
        assert!(r.eof_readable());
        assert_eq!(r.on_packet(0, flags::DATA, b"a"), Accepted::Duplicate);
        assert_eq!(r.on_packet(9, flags::DATA, b"z"), Accepted::Dropped);
    }

    #[test]
    fn window_bounds_buffering() {
        let mut r = Recv::new(10, 4);
        assert_eq!(r.on_packet(4, flags::DATA, b"x"), Accepted::Dropped, "beyond max_ooo");
        assert_eq!(r.on_packet(0, flags::DATA, &[0; 10]), Accepted::New);
        assert_eq!(r.rwnd(), 0);
        assert_eq!(r.on_packet(1, flags::DATA, &[0; 11]), Accepted::Dropped);
    }
}
