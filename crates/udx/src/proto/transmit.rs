//! [`Connection`]: outbound datagrams and timers.

use std::time::{Duration, Instant};

use super::conn::{Connection, TimerKind};
use super::{CloseReason, pacing};
use crate::header::{Header, flags};

/// Smallest tail-loss-probe timeout.
const MIN_PTO: Duration = Duration::from_millis(2);
/// libudx `UDX_TLP_MAX_ACK_DELAY`.
const TLP_ACK_DELAY: Duration = Duration::from_millis(2);

impl Connection {
    fn header(&self, f: u8, seq: u32, data_offset: u8) -> Header {
        Header { flags: f, data_offset, stream_id: self.remote_id.unwrap_or(0), rwnd: self.recv.rwnd(), seq, ack: self.recv.ack() }
    }

    fn write_control(&mut self, f: u8, out: &mut Vec<u8>) {
        let h = self.header(f, self.send.next_seq(), 0);
        self.last_rwnd = h.rwnd;
        h.encode_to(out);
    }

    fn write_ack(&mut self, out: &mut Vec<u8>) {
        let blocks = self.recv.sack_blocks();
        let f = if blocks.is_empty() { 0 } else { flags::SACK };
        self.write_control(f, out);
        for (s, e) in blocks {
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&e.to_le_bytes());
        }
        self.ack_needed = false;
    }

    fn write_data(&mut self, seq: u32, out: &mut Vec<u8>) {
        let Some(p) = self.send.get(seq) else { return };
        let (f, pad) = (p.flags, if p.transmits == 1 { p.padding } else { 0 });
        let h = self.header(f, seq, pad);
        h.encode_to(out);
        out.resize(out.len() + usize::from(pad), 0);
        out.extend_from_slice(&p.payload);
        self.last_rwnd = h.rwnd;
        self.ack_needed = self.recv.has_gaps() && self.ack_needed;
    }

    fn send_window(&self) -> u32 {
        let rwnd_pkts = if self.peer_rwnd == 0 {
            0
        } else {
            let per = u32::try_from(self.mtu.max_payload()).unwrap_or(1).max(1);
            (self.peer_rwnd / per).max(1)
        };
        self.cc.window().min(rwnd_pkts)
    }

    /// Bytes per second the pacer allows (`None` before the first RTT sample).
    fn pacing_rate(&self) -> Option<f64> {
        pacing::rate(&self.cc, self.mtu.max_payload(), self.rtt.srtt()?)
    }

    fn may_send_new(&self) -> bool {
        if !self.send.has_new() || self.send.in_flight() >= self.send_window() || !self.pacer.can_send() {
            return false;
        }
        // Nagle: a partial packet waits while data is in flight, unless flushed/ending.
        self.send.pending_len() >= self.mtu.max_payload() || self.send.fin_queued() || self.flush_requested || !self.send.outstanding()
    }

    /// Writes the next datagram to send into `out` (cleared first). Returns
    /// `false` when there is nothing to send now. Call until `false`.
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        out.clear();
        self.poll_transmit_append(now, out).is_some()
    }

    /// [`poll_transmit`](Self::poll_transmit) appending to `out` instead (a batch of
    /// datagrams laid end to end, ready for GSO); returns the new datagram's length.
    pub fn poll_transmit_append(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<usize> {
        self.remote_id?;
        let start = out.len();
        self.pacer.refill(now, self.pacing_rate());
        if !self.next_datagram(now, out) {
            out.truncate(start);
            return None;
        }
        let len = out.len() - start;
        if out.get(start + 2).is_some_and(|f| f & (flags::DATA | flags::END) != 0) {
            self.pacer.on_sent(len);
        }
        self.stats.packets_sent += 1;
        self.update_timer(now);
        Some(len)
    }

    fn next_datagram(&mut self, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.destroy_pending {
            self.destroy_pending = false;
            let h = Header { flags: flags::DESTROY, ..self.header(0, self.send.next_seq(), 0) };
            h.encode_to(out);
            self.send.bump_seq();
            return true;
        }
        if self.closed.is_some_and(|r| r != CloseReason::Finished) {
            return false;
        }
        if self.ack_needed && (self.recv.has_gaps() || !self.may_send_new()) {
            self.write_ack(out);
            return true;
        }
        if self.heartbeat_needed {
            self.heartbeat_needed = false;
            self.write_control(flags::HEARTBEAT, out);
            return true;
        }
        if self.send.has_lost()
            && self.send.in_flight() < self.cc.window()
            && self.pacer.can_send()
            && let Some(seq) = self.send.next_retransmit(now)
        {
            self.stats.retransmits += 1;
            self.write_data(seq, out);
            return true;
        }
        if self.tlp_pending {
            self.tlp_pending = false;
            self.tlp_in_flight = true;
            if self.send.has_new() {
                self.send_new(now, out);
                return true;
            }
            if let Some(seq) = self.send.tail_probe(now) {
                self.stats.retransmits += 1;
                self.write_data(seq, out);
                return true;
            }
        }
        if self.may_send_new() {
            self.send_new(now, out);
            return true;
        }
        false
    }

    fn send_new(&mut self, now: Instant, out: &mut Vec<u8>) {
        if !self.send.outstanding() {
            self.rto_anchor = now;
        }
        self.tlp_anchor = now;
        let max = self.mtu.max_payload();
        let len = self.send.pending_len().min(max);
        let pad = self.mtu.probe_padding(len);
        let seq = self.send.packetise(max, now, pad);
        if self.send.pending_len() == 0 {
            self.flush_requested = false;
        }
        self.write_data(seq, out);
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer.map(|(t, _)| t)
    }

    /// Runs the timer if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some((at, kind)) = self.timer else { return };
        if now < at {
            return;
        }
        match kind {
            TimerKind::Reorder => {
                self.reorder_timer = None;
                self.run_loss_detection(now);
            }
            TimerKind::Tlp => self.tlp_pending = true,
            TimerKind::Rto => self.on_rto(now),
            TimerKind::Pacing => {}
            TimerKind::ZeroWindow => {
                if self.zwp_unanswered >= self.config.max_rto_timeouts {
                    // The peer closed its window and then went silent: without this,
                    // the probes would go on forever.
                    tracing::debug!(stream = self.local_id, "udx: zero-window probes unanswered, stream timed out");
                    self.close(CloseReason::TimedOut);
                } else {
                    self.zwp_unanswered += 1;
                    self.heartbeat_needed = true;
                    self.zwp_timer = Some(now + self.rtt.rto() * 2);
                }
            }
        }
        self.update_timer(now);
    }

    fn on_rto(&mut self, now: Instant) {
        self.stats.rto_timeouts += 1;
        if self.recv.is_finished() && self.send.only_fin_unacked() {
            // The peer ended, has all our data, and libudx closes its stream as
            // soon as both ends are done: a lost ack for our END is never
            // repeated. Nothing is lost by calling the stream finished.
            tracing::debug!(stream = self.local_id, "udx: END unacked after the peer finished");
            self.close(CloseReason::Finished);
            return;
        }
        match self.send.on_rto(self.config.max_rto_timeouts, self.rto_backoff) {
            Err(()) => {
                tracing::debug!(stream = self.local_id, "udx: stream timed out");
                self.close(CloseReason::TimedOut);
            }
            Ok(loss) => {
                for _ in 0..loss.probes_lost {
                    self.mtu.on_probe_lost();
                }
                self.cc.on_rto(self.send.next_seq());
                self.rto_backoff += 1;
                self.rto_anchor = now;
                self.tlp_anchor = now;
                self.reorder_timer = None;
                self.tlp_in_flight = false;
            }
        }
    }

    /// Recomputes the single armed timer.
    pub(crate) fn update_timer(&mut self, now: Instant) {
        let timer = self.compute_timer(now);
        let waiting = self.closed.is_none() && self.remote_id.is_some() && (self.send.has_new() || self.send.has_lost());
        let pacing = if waiting { self.pacer.next_send(now) } else { None };
        self.timer = match (timer, pacing) {
            (Some((t, k)), Some(p)) if t <= p => Some((t, k)),
            (_, Some(p)) => Some((p, TimerKind::Pacing)),
            (t, None) => t,
        };
    }

    fn compute_timer(&mut self, now: Instant) -> Option<(Instant, TimerKind)> {
        if self.closed.is_some() || self.remote_id.is_none() {
            return None;
        }
        if !self.send.outstanding() {
            if self.peer_rwnd == 0 && self.send.has_new() {
                let at = *self.zwp_timer.get_or_insert(now + self.rtt.rto());
                return Some((at, TimerKind::ZeroWindow));
            }
            return None;
        }
        let rto = self.rto_anchor + self.rtt.backed_off(self.rto_backoff);
        if let Some(t) = self.reorder_timer {
            return Some((t.min(rto), if t < rto { TimerKind::Reorder } else { TimerKind::Rto }));
        }
        // A probe after 2·srtt without progress, in any CA state (QUIC-PTO-like),
        // so a lost retransmission rarely waits for the RTO.
        let tlp_ok = !self.tlp_in_flight && !self.tlp_pending;
        if tlp_ok {
            let mut pto = match self.rtt.srtt() {
                Some(s) => (s * 2).max(MIN_PTO),
                None => Duration::from_secs(1),
            };
            if self.send.in_flight() == 1 {
                pto += TLP_ACK_DELAY;
            }
            let t = self.tlp_anchor + pto;
            if t < rto {
                return Some((t, TimerKind::Tlp));
            }
        }
        Some((rto, TimerKind::Rto))
    }
}
