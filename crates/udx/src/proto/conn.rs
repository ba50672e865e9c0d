//! [`Connection`]: state, inbound packets and the application side.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::cc::{Ack, CaState, Congestion};
use super::mtu::Mtu;
use super::pacing::Pacer;
use super::recv::{Accepted, Recv};
use super::rtt::Rtt;
use super::send::SendBuf;
use super::{CloseReason, Config, PacketError, ReadError, WriteError};
use crate::header::{Packet, flags, seq_lt};

/// Counters of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Datagrams produced by `poll_transmit`.
    pub packets_sent: u64,
    /// Datagrams accepted by `handle_datagram`.
    pub packets_received: u64,
    /// Data packets sent again (loss recovery, RTO, tail probes).
    pub retransmits: u64,
    /// RTO expiries.
    pub rto_timeouts: u64,
    /// Packets declared lost by RACK/SACK.
    pub fast_losses: u64,
    /// Datagrams dropped as invalid.
    pub dropped: u64,
}

/// Which timer is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    Rto,
    Tlp,
    Reorder,
    ZeroWindow,
    Pacing,
}

/// One UDX stream as a sans-IO state machine.
///
/// Feed it with [`handle_datagram`](Self::handle_datagram) and
/// [`handle_timeout`](Self::handle_timeout); drain it with
/// [`poll_transmit`](Self::poll_transmit) until `None` after every call; sleep
/// until [`poll_timeout`](Self::poll_timeout).
#[derive(Debug)]
pub struct Connection {
    pub(crate) local_id: u32,
    pub(crate) remote_id: Option<u32>,
    pub(crate) config: Config,
    pub(crate) send: SendBuf,
    pub(crate) recv: Recv,
    pub(crate) rtt: Rtt,
    pub(crate) cc: Congestion,
    pub(crate) mtu: Mtu,
    pub(crate) pacer: Pacer,
    pub(crate) peer_rwnd: u32,
    pub(crate) wl: (u32, u32),
    pub(crate) ack_needed: bool,
    pub(crate) heartbeat_needed: bool,
    pub(crate) destroy_pending: bool,
    pub(crate) flush_requested: bool,
    pub(crate) tlp_pending: bool,
    pub(crate) tlp_in_flight: bool,
    pub(crate) reorder_timer: Option<Instant>,
    pub(crate) zwp_timer: Option<Instant>,
    /// Zero-window probes sent since the peer was last heard from; past
    /// `max_rto_timeouts` the stream times out, as an unanswered RTO would.
    pub(crate) zwp_unanswered: u32,
    pub(crate) timer: Option<(Instant, TimerKind)>,
    pub(crate) rto_anchor: Instant,
    pub(crate) tlp_anchor: Instant,
    pub(crate) rto_backoff: u32,
    pub(crate) last_rwnd: u32,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) messages: VecDeque<Bytes>,
    pub(crate) stats: Stats,
}

impl Connection {
    /// A stream with id `local_id`, not yet connected. It already accepts data
    /// (and acks it once connected).
    pub fn new(local_id: u32, config: Config, now: Instant) -> Self {
        let max_ooo = config.recv_window / 1024 * 2 + 64;
        Connection {
            local_id,
            remote_id: None,
            send: SendBuf::new(config.send_buffer),
            recv: Recv::new(config.recv_window, max_ooo),
            rtt: Rtt::new(),
            cc: Congestion::new(config.max_cwnd),
            mtu: Mtu::new(config.mtu_probe, config.max_mtu, false),
            pacer: Pacer::new(),
            peer_rwnd: 4 * 1024 * 1024,
            wl: (0, 0),
            ack_needed: false,
            heartbeat_needed: false,
            destroy_pending: false,
            flush_requested: false,
            tlp_pending: false,
            tlp_in_flight: false,
            reorder_timer: None,
            zwp_timer: None,
            zwp_unanswered: 0,
            timer: None,
            rto_anchor: now,
            tlp_anchor: now,
            rto_backoff: 0,
            last_rwnd: u32::MAX,
            closed: None,
            messages: VecDeque::new(),
            stats: Stats::default(),
            config,
        }
    }

    /// Fixes the peer's stream id (as `stream.connect(socket, remoteId, …)`).
    /// `ipv6` selects the 68-byte instead of 48-byte per-packet overhead.
    pub fn connect(&mut self, remote_id: u32, ipv6: bool) {
        self.remote_id = Some(remote_id);
        self.mtu = Mtu::new(self.config.mtu_probe, self.config.max_mtu, ipv6);
    }

    /// Our stream id.
    pub fn local_id(&self) -> u32 {
        self.local_id
    }
    /// The peer's stream id, once connected.
    pub fn remote_id(&self) -> Option<u32> {
        self.remote_id
    }
    /// Why the stream closed, if it did.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed
    }
    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }
    /// The current path MTU estimate.
    pub fn mtu(&self) -> u16 {
        self.mtu.mtu()
    }
    /// The congestion window in packets.
    pub fn cwnd(&self) -> u32 {
        self.cc.window()
    }
    /// Payload bytes held (unsent + unacked + received-unread + out-of-order).
    /// Bounded by `send_buffer + 2 · recv_window`.
    pub fn buffered_bytes(&self) -> usize {
        self.send.buffered() + self.recv.buffered()
    }
    /// Packets kept for retransmission (bounded by the send buffer).
    pub fn packets_held(&self) -> usize {
        self.send.packets_held()
    }

    /// Whether data written now would be accepted.
    pub fn is_writable(&self) -> bool {
        self.closed.is_none() && self.send.room() > 0
    }

    /// Whether an ACK is waiting to be sent (e.g. a window update after a read).
    pub fn ack_pending(&self) -> bool {
        self.ack_needed
    }

    /// Whether all our data (and END, if finished) has been acked.
    pub fn is_flushed(&self) -> bool {
        !self.send.outstanding() && !self.send.has_new()
    }

    /// Queues bytes; returns how many were accepted (0 = buffer full).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, WriteError> {
        if let Some(r) = self.closed {
            return Err(WriteError::Closed(r));
        }
        if self.send.fin_queued() {
            return Err(WriteError::Finished);
        }
        Ok(self.send.write(data))
    }

    /// Sends what is buffered even if it does not fill a packet.
    pub fn flush(&mut self) {
        self.flush_requested = true;
    }

    /// Ends our half of the stream (END after the buffered data).
    pub fn finish(&mut self) -> Result<(), WriteError> {
        if let Some(r) = self.closed {
            return Err(WriteError::Closed(r));
        }
        self.send.finish();
        Ok(())
    }

    /// Resets the stream: one DESTROY packet is sent (if connected), buffers go.
    pub fn destroy(&mut self) {
        if self.closed.is_some_and(|r| r != CloseReason::Finished) {
            return;
        }
        self.destroy_pending = self.remote_id.is_some();
        self.close(CloseReason::Destroyed);
    }

    /// Reads in-order bytes. `Ok(None)`: nothing yet; `Ok(Some(0))`: end of stream.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReadError> {
        let n = self.recv.read(buf);
        if n > 0 {
            let half = u32::try_from(self.recv.window() / 2).unwrap_or(u32::MAX);
            if self.last_rwnd < half && self.recv.rwnd() >= half {
                self.ack_needed = true; // window update
            }
            return Ok(Some(n));
        }
        if self.recv.eof_readable() {
            return Ok(Some(0));
        }
        match self.closed {
            Some(CloseReason::Finished) => Ok(Some(0)),
            Some(r) => Err(ReadError::Closed(r)),
            None => Ok(None),
        }
    }

    /// Next unreliable MESSAGE payload received, if any.
    pub fn recv_message(&mut self) -> Option<Bytes> {
        self.messages.pop_front()
    }

    pub(crate) fn close(&mut self, reason: CloseReason) {
        if self.closed.is_some_and(|r| r != CloseReason::Finished) {
            return;
        }
        self.closed = Some(reason);
        self.timer = None;
        tracing::debug!(stream = self.local_id, ?reason, stats = ?self.stats, "udx: stream closed");
        if reason != CloseReason::Finished {
            self.send.clear();
            self.ack_needed = false;
            self.heartbeat_needed = false;
        }
    }

    /// Feeds one received datagram (header included).
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Result<(), PacketError> {
        let res = self.process(now, datagram);
        match res {
            Ok(()) => self.stats.packets_received += 1,
            Err(_) => self.stats.dropped += 1,
        }
        self.check_finished();
        self.update_timer(now);
        res
    }

    fn process(&mut self, now: Instant, datagram: &[u8]) -> Result<(), PacketError> {
        let pkt = Packet::decode(datagram)?;
        let h = pkt.header;
        if h.stream_id != self.local_id {
            return Err(PacketError::WrongStream(h.stream_id));
        }
        if self.closed.is_some_and(|r| r != CloseReason::Finished) {
            return Err(PacketError::Closed);
        }
        if h.has(flags::HEARTBEAT) {
            self.ack_needed = true;
            return Ok(());
        }
        let data_or_end = h.flags & (flags::DATA | flags::END) != 0;
        if !seq_lt(h.seq, self.recv.ack()) {
            if data_or_end && self.recv.on_packet(h.seq, h.flags, pkt.payload) == Accepted::Dropped {
                tracing::trace!(seq = h.seq, "udx: data beyond the window dropped");
            }
            // libudx believes any DESTROY with seq ≥ ack; we also require it to be
            // inside the window, so a blind reset must guess the sequence range.
            if h.has(flags::DESTROY) && self.recv.in_window(h.seq) {
                self.close(CloseReason::Reset);
                return Ok(());
            }
        }
        if data_or_end {
            self.ack_needed = true;
        }
        if h.has(flags::MESSAGE) && self.messages.len() < self.config.max_messages {
            self.messages.push_back(Bytes::copy_from_slice(pkt.payload));
        }
        if self.closed.is_some() {
            return Ok(());
        }
        if self.send.ack_is_bogus(h.ack) {
            return Err(PacketError::AckBeyondSent { ack: h.ack, next: self.send.next_seq() });
        }
        self.on_ack(now, &pkt);
        Ok(())
    }

    fn on_ack(&mut self, now: Instant, pkt: &Packet<'_>) {
        let h = pkt.header;
        // Any valid packet answers a zero-window probe: the peer is alive.
        self.zwp_unanswered = 0;
        if !seq_lt(h.ack, self.send.base()) {
            let (wl1, wl2) = self.wl;
            if seq_lt(wl1, h.seq) || (wl1 == h.seq && !seq_lt(h.ack, wl2)) {
                if h.rwnd > 0 {
                    self.zwp_timer = None;
                }
                self.peer_rwnd = h.rwnd;
                self.wl = (h.seq, h.ack);
            }
        }
        let sacks = if h.has(flags::SACK) { pkt.sacks } else { &[] };
        let blocks = Packet { sacks, ..*pkt };
        let res = self.send.on_ack(now, h.ack, blocks.sack_blocks(), &mut self.rtt);
        if res.delivered > 0 {
            // Progress of any kind: the peer is alive, the backoff restarts.
            self.rto_backoff = 0;
            self.rto_anchor = now; // libudx: next_rto_ts = now + rto on delivery
            self.tlp_anchor = now;
            self.tlp_in_flight = false;
            self.mtu.on_ack();
            if res.probe_acked {
                self.mtu.on_probe_acked();
            }
            let latest_rtt = self.rtt.latest();
            self.cc.on_delivered(Ack {
                now,
                delivered: res.delivered,
                ack: self.send.base(),
                next_seq: self.send.next_seq(),
                latest_rtt,
                srtt: self.rtt.srtt().unwrap_or(latest_rtt),
            });
        }
        if res.delivered > 0 {
            self.run_loss_detection(now);
        }
    }

    pub(crate) fn run_loss_detection(&mut self, now: Instant) {
        let in_recovery = self.cc.state() != CaState::Open;
        let loss = self.send.detect_loss(now, &self.rtt, in_recovery);
        for _ in 0..loss.probes_lost {
            self.mtu.on_probe_lost();
        }
        if loss.lost > loss.probes_lost {
            self.cc.on_loss(self.send.next_seq());
        }
        self.stats.fast_losses += u64::from(loss.lost);
        self.reorder_timer = loss.timer;
    }

    fn check_finished(&mut self) {
        if self.closed.is_none() && self.send.fin_acked() && self.recv.is_finished() {
            self.close(CloseReason::Finished);
        }
    }
}
