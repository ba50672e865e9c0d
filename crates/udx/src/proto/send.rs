//! The send side: unsent bytes, packets in flight, cumulative and selective acks,
//! RACK-style loss detection (RFC 8985, simplified) and RTO marking.
//!
//! Memory: unsent plus unacked payload never exceeds the configured send buffer.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::chunks::Pending;
use super::rtt::Rtt;
use crate::header::{flags, seq_diff};

/// One packet that was sent and is not yet cumulatively acked.
#[derive(Debug)]
pub(crate) struct Sent {
    pub(crate) payload: Bytes,
    pub(crate) flags: u8,
    pub(crate) time_sent: Instant,
    pub(crate) transmits: u32,
    pub(crate) rto_timeouts: u32,
    pub(crate) acked: bool,
    pub(crate) lost: bool,
    /// MTU-probe padding of the first transmission (0 = not a probe).
    pub(crate) padding: u8,
}

/// Outcome of one ack.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct AckResult {
    pub(crate) delivered: u32,
    pub(crate) advanced: bool,
    pub(crate) probe_acked: bool,
    pub(crate) sacked: u32,
}

/// Outcome of loss detection.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LossResult {
    pub(crate) lost: u32,
    pub(crate) probes_lost: u32,
    pub(crate) timer: Option<Instant>,
}

/// The send buffers of one stream.
#[derive(Debug)]
pub(crate) struct SendBuf {
    pending: Pending,
    fin_queued: bool,
    fin_packetised: bool,
    base: u32,
    next_seq: u32,
    packets: VecDeque<Sent>,
    lost_queue: VecDeque<u32>,
    /// `(seq, transmit number)` in send order; stale entries are skipped.
    order: VecDeque<(u32, u32)>,
    in_flight: u32,
    unacked_bytes: usize,
    capacity: usize,
    rack: Option<(Instant, u32)>,
    /// Packets SACKed but not yet cumulatively acked (libudx `stream->sacks`).
    sacked: u32,
    fack: u32,
    reordering_seen: bool,
}

impl SendBuf {
    pub(crate) fn new(capacity: usize) -> Self {
        SendBuf {
            pending: Pending::default(),
            fin_queued: false,
            fin_packetised: false,
            base: 0,
            next_seq: 0,
            packets: VecDeque::new(),
            lost_queue: VecDeque::new(),
            order: VecDeque::new(),
            in_flight: 0,
            unacked_bytes: 0,
            capacity,
            rack: None,
            sacked: 0,
            fack: 0,
            reordering_seen: false,
        }
    }

    pub(crate) fn next_seq(&self) -> u32 {
        self.next_seq
    }
    /// Consumes a sequence number without a packet (DESTROY).
    pub(crate) fn bump_seq(&mut self) {
        self.next_seq = self.next_seq.wrapping_add(1);
    }
    pub(crate) fn base(&self) -> u32 {
        self.base
    }
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight
    }
    pub(crate) fn outstanding(&self) -> bool {
        !self.packets.is_empty()
    }
    pub(crate) fn has_lost(&self) -> bool {
        !self.lost_queue.is_empty()
    }
    pub(crate) fn has_new(&self) -> bool {
        !self.pending.is_empty() || (self.fin_queued && !self.fin_packetised)
    }
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
    pub(crate) fn fin_queued(&self) -> bool {
        self.fin_queued
    }
    /// Our END was sent and everything up to it is acked.
    pub(crate) fn fin_acked(&self) -> bool {
        self.fin_packetised && self.packets.is_empty()
    }
    /// Everything sent is acked except a payload-free END.
    pub(crate) fn only_fin_unacked(&self) -> bool {
        self.fin_packetised
            && self.pending.is_empty()
            && self.packets.iter().all(|p| p.acked || (p.payload.is_empty() && p.flags & flags::END != 0))
    }

    /// Bytes held: unsent plus unacked payload.
    pub(crate) fn buffered(&self) -> usize {
        self.pending.len() + self.unacked_bytes
    }
    pub(crate) fn packets_held(&self) -> usize {
        self.packets.len()
    }

    /// Bytes a write may add now.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.buffered())
    }

    /// Accepts as much of `data` as the buffer has room for.
    pub(crate) fn write(&mut self, data: &[u8]) -> usize {
        let room = self.room();
        let n = room.min(data.len());
        self.pending.extend_from_slice(&data[..n]);
        n
    }

    /// Drops every buffer (stream destroyed); sequence numbers are kept.
    pub(crate) fn clear(&mut self) {
        let next = self.next_seq;
        *self = SendBuf::new(0);
        self.base = next;
        self.next_seq = next;
        self.fack = next;
    }

    pub(crate) fn finish(&mut self) {
        self.fin_queued = true;
    }

    /// Cuts the next new packet (at most `max_payload` bytes); returns its seq.
    pub(crate) fn packetise(&mut self, max_payload: usize, now: Instant, padding: Option<u8>) -> u32 {
        let n = self.pending.len().min(max_payload);
        let payload = self.pending.split_to(n);
        let mut f = if n > 0 { flags::DATA } else { 0 };
        // END goes alone (after the last data packet), so "only END is unacked"
        // can be told apart from "data is unacked".
        if self.fin_queued && n == 0 {
            f |= flags::END;
            self.fin_packetised = true;
        }
        let seq = self.next_seq;
        self.unacked_bytes += payload.len();
        self.packets.push_back(Sent {
            payload,
            flags: f,
            time_sent: now,
            transmits: 1,
            rto_timeouts: 0,
            acked: false,
            lost: false,
            padding: padding.unwrap_or(0),
        });
        self.order.push_back((seq, 1));
        self.in_flight += 1;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    pub(crate) fn get(&self, seq: u32) -> Option<&Sent> {
        let i = seq_diff(seq, self.base);
        usize::try_from(i).ok().and_then(|i| self.packets.get(i))
    }

    fn get_mut(&mut self, seq: u32) -> Option<&mut Sent> {
        let i = seq_diff(seq, self.base);
        usize::try_from(i).ok().and_then(|i| self.packets.get_mut(i))
    }

    /// Next lost packet to retransmit, marked as in flight again.
    pub(crate) fn next_retransmit(&mut self, now: Instant) -> Option<u32> {
        while let Some(seq) = self.lost_queue.pop_front() {
            let Some(p) = self.get_mut(seq) else { continue };
            if p.acked || !p.lost {
                continue;
            }
            p.lost = false;
            p.padding = 0;
            p.transmits += 1;
            p.time_sent = now;
            let tx = p.transmits;
            self.in_flight += 1;
            self.order.push_back((seq, tx));
            return Some(seq);
        }
        None
    }

    /// Re-sends the newest unacked packet as a tail-loss probe.
    pub(crate) fn tail_probe(&mut self, now: Instant) -> Option<u32> {
        let idx = self.packets.iter().rposition(|p| !p.acked && !p.lost)?;
        let p = self.packets.get_mut(idx)?;
        p.padding = 0;
        p.transmits += 1;
        p.time_sent = now;
        let (seq, tx) = (self.base.wrapping_add(idx as u32), p.transmits);
        self.order.push_back((seq, tx));
        Some(seq)
    }

    /// Whether `ack` is beyond anything we sent (libudx ignores such packets' acks).
    pub(crate) fn ack_is_bogus(&self, ack: u32) -> bool {
        seq_diff(ack, self.next_seq) > 0
    }

    /// Applies a cumulative ack and SACK blocks.
    pub(crate) fn on_ack(&mut self, now: Instant, ack: u32, sacks: impl Iterator<Item = (u32, u32)>, rtt: &mut Rtt) -> AckResult {
        let mut res = AckResult::default();
        if self.ack_is_bogus(ack) {
            return res;
        }
        while seq_diff(ack, self.base) > 0 {
            let Some(p) = self.packets.pop_front() else { break };
            let seq = self.base;
            self.base = self.base.wrapping_add(1);
            res.advanced = true;
            if p.acked {
                self.sacked = self.sacked.saturating_sub(1);
            } else {
                self.delivered(Meta::of(&p), seq, now, rtt, &mut res);
            }
        }
        for (start, end) in sacks {
            // libudx `udx_sack_is_valid`: remote_acked <= start < end <= seq.
            let valid = seq_diff(end, self.next_seq) <= 0
                && seq_diff(start, end) < 0
                && seq_diff(start, self.next_seq) < 0
                && seq_diff(start, self.base) >= 0;
            if !valid {
                continue;
            }
            let mut s = start;
            // bounded by the packets held, whatever the block says
            for _ in 0..self.packets.len() {
                if s == end {
                    break;
                }
                if let Some(p) = self.get_mut(s).filter(|p| !p.acked) {
                    p.acked = true;
                    let meta = Meta::of(p);
                    p.payload = Bytes::new(); // free it now; the cumulative ack pops it later
                    res.sacked += 1;
                    self.sacked += 1;
                    self.delivered(meta, s, now, rtt, &mut res);
                }
                s = s.wrapping_add(1);
            }
        }
        if self.order.len() > 4 * self.packets.len() + 64 {
            self.compact_order();
        }
        res
    }

    fn delivered(&mut self, p: Meta, seq: u32, now: Instant, rtt: &mut Rtt, res: &mut AckResult) {
        res.delivered += 1;
        if !p.lost {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        self.unacked_bytes = self.unacked_bytes.saturating_sub(p.len);
        let sample = now.saturating_duration_since(p.time_sent);
        if p.transmits == 1 {
            rtt.sample(sample);
            if p.padding > 0 {
                res.probe_acked = true;
            }
        }
        if (p.transmits == 1 || sample >= rtt.min()) && self.rack.is_none_or(|r| sent_after((p.time_sent, seq), r)) {
            self.rack = Some((p.time_sent, seq));
        }
        let next = seq.wrapping_add(1);
        if seq_diff(next, self.fack) > 0 {
            self.fack = next;
        } else if seq_diff(next, self.fack) < 0 && p.transmits == 1 {
            self.reordering_seen = true;
        }
    }

    fn compact_order(&mut self) {
        let order = std::mem::take(&mut self.order);
        self.order = order.into_iter().filter(|&(s, tx)| self.is_live(s, tx)).collect();
    }

    fn is_live(&self, seq: u32, tx: u32) -> bool {
        self.get(seq).is_some_and(|p| !p.acked && !p.lost && p.transmits == tx)
    }

    /// RACK: packets sent before the most recently delivered one, and older than
    /// `rtt + reo_wnd`, are lost.
    pub(crate) fn detect_loss(&mut self, now: Instant, rtt: &Rtt, in_recovery: bool) -> LossResult {
        let mut res = LossResult::default();
        let Some(rack) = self.rack else { return res };
        let no_reo = !self.reordering_seen && (in_recovery || self.sacked >= 3);
        let reo = if no_reo { Duration::ZERO } else { (rtt.min() / 4).min(rtt.srtt().unwrap_or(Duration::ZERO)) };
        let wait = rtt.latest() + reo;
        while let Some(&(seq, tx)) = self.order.front() {
            if !self.is_live(seq, tx) {
                self.order.pop_front();
                continue;
            }
            let Some(p) = self.get_mut(seq) else { break };
            if sent_after((p.time_sent, seq), rack) || (p.time_sent, seq) == rack {
                break;
            }
            let deadline = p.time_sent + wait;
            if now < deadline {
                res.timer = Some(deadline);
                break;
            }
            p.lost = true;
            if p.padding > 0 {
                res.probes_lost += 1;
            }
            self.in_flight = self.in_flight.saturating_sub(1);
            self.lost_queue.push_back(seq);
            self.order.pop_front();
            res.lost += 1;
        }
        res
    }

    /// An RTO fired: every unacked packet is lost. `Err` when the oldest packet
    /// has timed out `max_timeouts` times in a row with no ack in between
    /// (`backoff` counts the RTOs since the last ack).
    pub(crate) fn on_rto(&mut self, max_timeouts: u32, backoff: u32) -> Result<LossResult, ()> {
        let mut res = LossResult::default();
        if let Some(first) = self.packets.front_mut() {
            first.rto_timeouts = if backoff == 0 { 1 } else { first.rto_timeouts + 1 };
            if first.rto_timeouts >= max_timeouts {
                return Err(());
            }
        }
        self.lost_queue.clear();
        self.order.clear();
        for (i, p) in self.packets.iter_mut().enumerate() {
            if p.acked {
                continue;
            }
            if !p.lost {
                p.lost = true;
                res.lost += 1;
                if p.padding > 0 {
                    res.probes_lost += 1;
                }
            }
            self.lost_queue.push_back(self.base.wrapping_add(i as u32));
        }
        self.in_flight = 0;
        Ok(res)
    }
}

/// What delivery needs to know about a packet.
#[derive(Debug, Clone, Copy)]
struct Meta {
    len: usize,
    time_sent: Instant,
    transmits: u32,
    lost: bool,
    padding: u8,
}

impl Meta {
    fn of(p: &Sent) -> Meta {
        Meta { len: p.payload.len(), time_sent: p.time_sent, transmits: p.transmits, lost: p.lost, padding: p.padding }
    }
}

/// libudx `rack_sent_after`: later time, or same time and higher seq.
fn sent_after(a: (Instant, u32), b: (Instant, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && seq_diff(a.1, b.1) > 0)
}
