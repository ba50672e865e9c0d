//! Congestion control in packets: NewReno (slow start, congestion avoidance,
//! one window reduction per recovery episode, cwnd 1 after an RTO).
//!
//! libudx runs BBR; nothing on the wire depends on the algorithm, so any correct
//! window-based controller interoperates. The initial window (10 packets) and the
//! initial ssthresh (0xFFFF) are libudx's.

use crate::header::seq_lt;

/// Loss-recovery state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaState {
    /// No loss outstanding.
    Open,
    /// Fast recovery until everything up to `high_seq` is acked.
    Recovery { high_seq: u32 },
    /// After an RTO, until everything up to `high_seq` is acked.
    Loss { high_seq: u32 },
}

/// The congestion window.
#[derive(Debug, Clone)]
pub(crate) struct Congestion {
    cwnd: u32,
    ssthresh: u32,
    max_cwnd: u32,
    acked_in_round: u32,
    state: CaState,
    /// Set by the first loss: the path's buffer is shallow enough to overflow, so
    /// from then on a standing queue stops window growth.
    delay_guard: bool,
}

impl Congestion {
    pub(crate) fn new(max_cwnd: u32) -> Self {
        Congestion {
            cwnd: 10.min(max_cwnd.max(1)),
            ssthresh: 0xFFFF,
            max_cwnd: max_cwnd.max(1),
            acked_in_round: 0,
            state: CaState::Open,
            delay_guard: false,
        }
    }

    /// The window in packets.
    pub(crate) fn window(&self) -> u32 {
        self.cwnd
    }

    pub(crate) fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    pub(crate) fn state(&self) -> CaState {
        self.state
    }

    /// `n` packets newly delivered; `ack` is the new cumulative ack; `queueing`:
    /// the RTT shows a standing queue (the window is not grown then).
    pub(crate) fn on_delivered(&mut self, n: u32, ack: u32, queueing: bool) {
        match self.state {
            CaState::Recovery { high_seq } | CaState::Loss { high_seq } => {
                if seq_lt(high_seq, ack) || high_seq == ack {
                    self.state = CaState::Open;
                } else if matches!(self.state, CaState::Recovery { .. }) {
                    return;
                }
            }
            CaState::Open => {}
        }
        if queueing && self.delay_guard {
            // Once a loss showed the path's buffer is shallow (a Node peer's
            // 208 KiB socket buffer), a standing queue ends slow start and holds
            // the window (Vegas/HyStart-like). A deep, loss-free path (Rust to
            // Rust, 4 MiB buffers) is not slowed by scheduling jitter.
            self.ssthresh = self.ssthresh.min(self.cwnd.max(2));
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(n);
        } else {
            self.acked_in_round = self.acked_in_round.saturating_add(n);
            while self.acked_in_round >= self.cwnd {
                self.acked_in_round -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(1);
            }
        }
        self.cwnd = self.cwnd.min(self.max_cwnd);
    }

    /// Loss detected by SACK/RACK; `next_seq` is the next sequence to be sent.
    pub(crate) fn on_loss(&mut self, next_seq: u32) {
        self.delay_guard = true;
        if self.state == CaState::Open {
            self.ssthresh = (self.cwnd / 2).max(2);
            self.cwnd = self.ssthresh;
            self.acked_in_round = 0;
            self.state = CaState::Recovery { high_seq: next_seq };
        }
    }

    /// A retransmission timeout.
    pub(crate) fn on_rto(&mut self, next_seq: u32) {
        self.delay_guard = true;
        if !matches!(self.state, CaState::Loss { .. }) {
            self.ssthresh = (self.cwnd / 2).max(2);
        }
        self.cwnd = 1;
        self.acked_in_round = 0;
        self.state = CaState::Loss { high_seq: next_seq };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_halving_then_linear() {
        let mut c = Congestion::new(1000);
        assert_eq!(c.window(), 10);
        c.on_delivered(10, 10, false);
        assert_eq!(c.window(), 20);
        c.on_loss(30);
        assert_eq!(c.window(), 10);
        c.on_delivered(5, 20, false);
        assert_eq!(c.window(), 10, "no growth in recovery");
        c.on_delivered(10, 30, false);
        assert_eq!(c.state(), CaState::Open);
        assert_eq!(c.window(), 11);
        c.on_rto(40);
        assert_eq!(c.window(), 1);
        c.on_delivered(1, 41, false);
        c.on_delivered(5, 42, true);
        assert_eq!(c.window(), 2, "no growth while queueing (after a loss)");
        let mut fresh = Congestion::new(1000);
        fresh.on_delivered(5, 5, true);
        assert_eq!(fresh.window(), 15, "a loss-free path ignores the delay signal");
        assert_eq!(c.window(), 2);
    }
}
