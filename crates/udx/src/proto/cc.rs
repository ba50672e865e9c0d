//! Congestion control in packets: CUBIC (RFC 9438) with HyStart++ (RFC 9406)
//! in the initial slow start.
//!
//! libudx 1.21.3 runs BBR (`src/udx_bbr.c`); nothing on the wire depends on the
//! algorithm, so any correct controller interoperates. The initial window (10
//! packets) and the initial ssthresh (0xFFFF) are libudx's. The window is kept
//! as a real number of packets (RFC 9438 arithmetic); [`Congestion::window`]
//! rounds it down.
//!
//! - Slow start: +1 packet per packet acked. HyStart++ watches the minimum RTT
//!   of each round; when it rises by `clamp(last/8, 4 ms, 16 ms)` growth drops
//!   to a quarter (conservative slow start) and after 5 such rounds slow start
//!   ends; an RTT back below the baseline resumes slow start.
//! - Congestion avoidance: `W_cubic(t) = C·(t − K)³ + W_max`, `C = 0.4`, with
//!   the target `W_cubic(t + srtt)` clamped to `[cwnd, 1.5·cwnd]` and each acked
//!   packet adding `(target − cwnd)/cwnd`; below the Reno-friendly estimate
//!   `W_est` (which grows by `α = 3(1 − β)/(1 + β)` per window, 1 once past the
//!   window before the last reduction) the window follows `W_est`.
//! - Loss (once per recovery episode): `W_max = cwnd`, or `cwnd·(1 + β)/2` when
//!   below the previous `W_max` (fast convergence); `cwnd = ssthresh =
//!   max(β·cwnd, 2)`, `β = 0.7`; no growth until the recovery episode ends.
//! - RTO: `ssthresh = max(β·cwnd, 2)`, `cwnd = 1`; the next avoidance epoch
//!   starts with `K = 0` and `W_max` = the window at its start (RFC 9438 §4.8).

use std::time::{Duration, Instant};

use crate::header::seq_lt;

/// Multiplicative decrease factor.
const BETA: f64 = 0.7;
/// Cubic scaling constant, packets/s³.
const C: f64 = 0.4;
/// Reno-friendly additive increase per window.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);
/// libudx's initial window and ssthresh, packets.
const INITIAL_WINDOW: f64 = 10.0;
const INITIAL_SSTHRESH: f64 = 65535.0;

/// HyStart++ constants (RFC 9406 §4.3).
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: f64 = 4.0;
const CSS_ROUNDS: u32 = 5;

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

/// What one ack tells the controller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ack {
    pub(crate) now: Instant,
    /// Packets newly delivered.
    pub(crate) delivered: u32,
    /// The new cumulative ack.
    pub(crate) ack: u32,
    /// The next sequence number to be sent.
    pub(crate) next_seq: u32,
    /// The latest RTT sample.
    pub(crate) latest_rtt: Duration,
    /// The smoothed RTT (the latest sample before there is one).
    pub(crate) srtt: Duration,
}

/// One congestion-avoidance epoch (from the first ack after a reduction).
#[derive(Debug, Clone, Copy)]
struct Epoch {
    start: Instant,
    /// Seconds until the cubic curve reaches `origin`.
    k: f64,
    /// `W_max` for this epoch (the plateau of the curve).
    origin: f64,
    /// The Reno-friendly estimate `W_est`.
    w_est: f64,
}

/// HyStart++ state (initial slow start only).
#[derive(Debug, Clone, Copy)]
struct HyStart {
    enabled: bool,
    window_end: Option<u32>,
    last_round_min: Option<Duration>,
    round_min: Option<Duration>,
    samples: u32,
    /// Conservative slow start: the RTT baseline and rounds spent in it.
    css: Option<(Duration, u32)>,
}

/// The congestion window.
#[derive(Debug, Clone)]
pub(crate) struct Congestion {
    cwnd: f64,
    ssthresh: f64,
    max_cwnd: f64,
    /// The window before the last reduction (`cwnd_prior`).
    prior_cwnd: f64,
    w_max: f64,
    epoch: Option<Epoch>,
    hystart: HyStart,
    state: CaState,
}

impl Congestion {
    pub(crate) fn new(max_cwnd: u32) -> Self {
        let max_cwnd = f64::from(max_cwnd.max(1));
        Congestion {
            cwnd: INITIAL_WINDOW.min(max_cwnd),
            ssthresh: INITIAL_SSTHRESH,
            max_cwnd,
            prior_cwnd: 0.0,
            w_max: 0.0,
            epoch: None,
            hystart: HyStart { enabled: true, window_end: None, last_round_min: None, round_min: None, samples: 0, css: None },
            state: CaState::Open,
        }
    }

    /// The window in packets.
    pub(crate) fn window(&self) -> u32 {
        // in 1..=max_cwnd (≤ u32::MAX) by construction
        self.cwnd.floor().clamp(1.0, self.max_cwnd) as u32
    }

    pub(crate) fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    pub(crate) fn state(&self) -> CaState {
        self.state
    }

    /// Packets were newly delivered.
    pub(crate) fn on_delivered(&mut self, a: Ack) {
        match self.state {
            CaState::Recovery { high_seq } | CaState::Loss { high_seq } => {
                if seq_lt(high_seq, a.ack) || high_seq == a.ack {
                    self.state = CaState::Open;
                } else if matches!(self.state, CaState::Recovery { .. }) {
                    return;
                }
            }
            CaState::Open => {}
        }
        let n = f64::from(a.delivered);
        match self.in_slow_start().then(|| self.hystart_on_ack(&a)).flatten() {
            Some(divisor) => self.cwnd += n / divisor,
            None => self.cubic_update(a.now, n, a.srtt),
        }
        self.cwnd = self.cwnd.min(self.max_cwnd);
    }

    /// Congestion avoidance (RFC 9438 §4.2–4.3).
    fn cubic_update(&mut self, now: Instant, n: f64, srtt: Duration) {
        let (cwnd, w_max) = (self.cwnd, self.w_max);
        let e = *self.epoch.get_or_insert_with(|| {
            let (k, origin) = if w_max <= cwnd { (0.0, cwnd) } else { (((w_max - cwnd) / C).cbrt(), w_max) };
            Epoch { start: now, k, origin, w_est: cwnd }
        });
        let t = now.saturating_duration_since(e.start).as_secs_f64();
        let w_cubic = |t: f64| C * (t - e.k).powi(3) + e.origin;
        let target = w_cubic(t + srtt.as_secs_f64()).clamp(cwnd, 1.5 * cwnd);
        let alpha = if e.w_est >= self.prior_cwnd { 1.0 } else { ALPHA };
        let w_est = e.w_est + alpha * n / cwnd;
        if let Some(ep) = self.epoch.as_mut() {
            ep.w_est = w_est;
        }
        self.cwnd = if w_cubic(t) < w_est { w_est.max(cwnd) } else { cwnd + n * (target - cwnd) / cwnd };
    }

    /// HyStart++ (RFC 9406 §4.2) for one ack in slow start; returns the growth
    /// divisor (1 in slow start, 4 in conservative slow start), `None` when
    /// slow start ends with this ack.
    fn hystart_on_ack(&mut self, a: &Ack) -> Option<f64> {
        let h = &mut self.hystart;
        if !h.enabled {
            return Some(1.0);
        }
        let round_over = h.window_end.is_none_or(|end| !seq_lt(a.ack, end));
        if round_over {
            h.window_end = Some(a.next_seq);
            h.last_round_min = h.round_min;
            h.round_min = None;
            h.samples = 0;
            if let Some((base, rounds)) = h.css {
                if rounds + 1 >= CSS_ROUNDS {
                    h.enabled = false;
                    self.ssthresh = self.cwnd;
                    return None;
                }
                h.css = Some((base, rounds + 1));
            }
        }
        h.round_min = Some(h.round_min.map_or(a.latest_rtt, |m| m.min(a.latest_rtt)));
        h.samples += 1;
        if let (true, Some(cur), Some(last)) = (h.samples >= N_RTT_SAMPLE, h.round_min, h.last_round_min) {
            match h.css {
                None => {
                    let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                    if cur >= last + thresh {
                        h.css = Some((cur, 0));
                    }
                }
                Some((base, _)) if cur < base => h.css = None,
                Some(_) => {}
            }
        }
        Some(if h.css.is_some() { CSS_GROWTH_DIVISOR } else { 1.0 })
    }

    /// The multiplicative decrease shared by loss and RTO.
    fn reduce(&mut self) {
        self.prior_cwnd = self.cwnd;
        self.w_max = if self.cwnd < self.w_max { self.cwnd * (1.0 + BETA) / 2.0 } else { self.cwnd };
        self.ssthresh = (self.cwnd * BETA).max(2.0);
        self.epoch = None;
        self.hystart.enabled = false;
    }

    /// Loss detected by SACK/RACK; `next_seq` is the next sequence to be sent.
    pub(crate) fn on_loss(&mut self, next_seq: u32) {
        if self.state == CaState::Open {
            self.reduce();
            self.cwnd = self.ssthresh;
            self.state = CaState::Recovery { high_seq: next_seq };
        }
    }

    /// A retransmission timeout.
    pub(crate) fn on_rto(&mut self, next_seq: u32) {
        if !matches!(self.state, CaState::Loss { .. }) {
            self.reduce();
            // RFC 9438 §4.8: the first epoch after a timeout has K = 0 and
            // W_max = the window at its start.
            self.w_max = 0.0;
        }
        self.cwnd = 1.0;
        self.epoch = None;
        self.state = CaState::Loss { high_seq: next_seq };
    }
}

#[cfg(test)]
mod tests;
