//! CUBIC and HyStart++ against hand-computed values (RFC 9438 §4, RFC 9406 §4).

use std::time::{Duration, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn ack(now: Instant, delivered: u32, ack: u32, next_seq: u32, rtt: Duration) -> Ack {
    Ack { now, delivered, ack, next_seq, latest_rtt: rtt, srtt: rtt }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-4
}

#[test]
fn slow_start_then_beta_then_cubic_growth() {
    let t0 = Instant::now();
    let mut c = Congestion::new(1000);
    assert_eq!(c.window(), 10);
    c.on_delivered(ack(t0, 10, 10, 10, 100 * MS));
    assert_eq!(c.window(), 20, "slow start: +1 per packet");
    c.on_loss(30);
    // W_max = 20, ssthresh = cwnd = 0.7 · 20 = 14
    assert!(close(c.cwnd, 14.0) && close(c.ssthresh, 14.0) && close(c.w_max, 20.0));
    c.on_delivered(ack(t0, 5, 20, 30, 100 * MS));
    assert!(close(c.cwnd, 14.0), "no growth in recovery");
    // Recovery ends; the epoch starts: K = ∛((20 − 14)/0.4) = ∛15 = 2.46621 s.
    // t = 0: W_cubic(0) = 14 < W_est = 14 + α/14 = 14.037815 → Reno-friendly.
    c.on_delivered(ack(t0, 1, 30, 44, 100 * MS));
    assert_eq!(c.state(), CaState::Open);
    assert!(close(c.epoch.map_or(0.0, |e| e.k), 2.466212));
    assert!(close(c.cwnd, 14.037815), "{}", c.cwnd);
    // t = 1 s: W_cubic(1) = 20 − 0.4·1.46621³ = 18.739188 > W_est (14.075528);
    // target W_cubic(1.1) = 18.979967; cwnd += (18.979967 − 14.037815)/14.037815.
    c.on_delivered(ack(t0 + Duration::from_secs(1), 1, 31, 45, 100 * MS));
    assert!(close(c.cwnd, 14.389875), "{}", c.cwnd);
    assert!(close(c.epoch.map_or(0.0, |e| e.w_est), 14.075528));
    // At t = K the curve is at its plateau W_max; the target is ~W_max, so an ack
    // of a whole window brings cwnd to about 20 and no further.
    let at_k = t0 + Duration::from_secs_f64(2.466212 - 0.1);
    c.cwnd = 19.99;
    c.on_delivered(ack(at_k, 20, 51, 70, 100 * MS));
    assert!((c.cwnd - 20.0).abs() < 0.02, "{}", c.cwnd);
}

#[test]
fn fast_convergence_and_rto() {
    let t0 = Instant::now();
    let mut c = Congestion::new(1000);
    c.on_delivered(ack(t0, 90, 90, 100, 10 * MS));
    assert_eq!(c.window(), 100);
    c.on_loss(200); // W_max 100, cwnd 70
    c.on_delivered(ack(t0, 1, 200, 270, 10 * MS));
    c.cwnd = 80.0; // a second loss below the old W_max
    c.on_loss(300);
    // fast convergence: W_max = 80 · (1 + 0.7)/2 = 68; cwnd = 56
    assert!(close(c.w_max, 68.0) && close(c.cwnd, 56.0), "{} {}", c.w_max, c.cwnd);
    assert!(close(c.prior_cwnd, 80.0));
    c.on_rto(400);
    // ssthresh = 0.7 · 56 = 39.2, cwnd = 1; the next epoch has K = 0, origin = cwnd
    assert_eq!(c.window(), 1);
    assert!(close(c.ssthresh, 39.2));
    c.on_rto(400);
    assert!(close(c.ssthresh, 39.2), "a repeated RTO does not reduce again");
    c.on_delivered(ack(t0, 39, 439, 440, 10 * MS));
    assert!(close(c.cwnd, 40.0) && !c.in_slow_start());
    c.on_delivered(ack(t0, 1, 440, 480, 10 * MS));
    let e = c.epoch.map_or((9.0, 0.0), |e| (e.k, e.origin));
    assert!(close(e.0, 0.0) && close(e.1, 40.0), "{e:?}");
    // t = 0: W_cubic = 40 < W_est = 40 + α/40 = 40.013235 (α = 0.529412)
    assert!(close(c.cwnd, 40.013235), "{}", c.cwnd);
    // t = 2 s: W_cubic(2) = 40 + 0.4·8 = 43.2; target W_cubic(2.01) = 43.248241
    c.on_delivered(ack(t0 + Duration::from_secs(2), 1, 441, 481, 10 * MS));
    assert!(close(c.cwnd, 40.013235 + (43.248241 - 40.013235) / 40.013235), "{}", c.cwnd);
}

/// A sender that keeps `window()` packets in flight and gets one ack per packet.
struct Flow {
    c: Congestion,
    acked: u32,
    sent: u32,
}

impl Flow {
    fn ack(&mut self, now: Instant, rtt: Duration) {
        self.acked += 1;
        self.c.on_delivered(ack(now, 1, self.acked, self.sent, rtt));
        self.sent = self.acked + self.c.window();
    }
}

#[test]
fn hystart_exits_slow_start_on_rtt_rise() {
    let t0 = Instant::now();
    let mut f = Flow { c: Congestion::new(10_000), acked: 0, sent: 10 };
    // Rounds end at acks 10, 28, 64, 136 (next_seq = 2·ack + 8 in slow start).
    for _ in 1..64 {
        f.ack(t0, 10 * MS);
    }
    assert_eq!(f.c.window(), 73);
    // Round 4 at 15 ms ≥ 10 ms + max(10/8 ms, 4 ms): after 8 samples, a quarter
    // of the growth (conservative slow start), from the 8th sample on.
    for _ in 64..71 {
        f.ack(t0, 15 * MS);
    }
    assert!(close(f.c.cwnd, 80.0));
    f.ack(t0, 15 * MS);
    assert!(close(f.c.cwnd, 80.25), "{}", f.c.cwnd);
    assert!(f.c.hystart.css.is_some() && f.c.in_slow_start());
    // Five rounds in CSS, then congestion avoidance with ssthresh = cwnd.
    let mut acks = 0;
    while f.c.in_slow_start() {
        f.ack(t0, 15 * MS);
        acks += 1;
        assert!(acks < 10_000);
    }
    assert!(f.c.cwnd >= f.c.ssthresh && f.c.cwnd - f.c.ssthresh < 0.05, "{} {}", f.c.cwnd, f.c.ssthresh);
    assert!(!f.c.hystart.enabled);
}

#[test]
fn hystart_resumes_slow_start_when_rtt_falls_back() {
    let t0 = Instant::now();
    let mut f = Flow { c: Congestion::new(10_000), acked: 0, sent: 10 };
    for _ in 1..64 {
        f.ack(t0, 10 * MS);
    }
    for _ in 64..72 {
        f.ack(t0, 15 * MS);
    }
    assert!(f.c.hystart.css.is_some());
    // Round 5 starts at ack 136; 8 samples below the CSS baseline (15 ms) end CSS.
    while f.acked < 136 + 7 {
        f.ack(t0, 15 * MS);
    }
    assert!(f.c.hystart.css.is_some());
    let before = f.c.cwnd;
    for _ in 0..8 {
        f.ack(t0, 11 * MS);
    }
    assert!(f.c.hystart.css.is_none(), "back to slow start");
    let grown = f.c.cwnd - before;
    f.ack(t0, 11 * MS);
    assert!(close(f.c.cwnd - before - grown, 1.0), "full slow-start growth again");
}

#[test]
fn pacing_rate_follows_the_window() {
    use super::super::pacing::rate;
    let t0 = Instant::now();
    let srtt = 20 * MS;
    let mut c = Congestion::new(1000);
    // slow start: 2 · 10 · 1452 B / 20 ms = 1,452,000 B/s
    assert!(close(rate(&c, 1452, srtt).unwrap_or(0.0), 1_452_000.0));
    c.on_delivered(ack(t0, 10, 10, 10, srtt));
    assert!(close(rate(&c, 1452, srtt).unwrap_or(0.0), 2_904_000.0), "2 · 20 · 1452 / 0.02");
    c.on_loss(30);
    // cwnd 14, congestion avoidance: 1.25 · 14 · 1452 / 0.02 = 1,270,500 B/s
    assert!(close(rate(&c, 1452, srtt).unwrap_or(0.0), 1_270_500.0));
    c.on_delivered(ack(t0, 1, 30, 44, srtt));
    c.on_delivered(ack(t0 + Duration::from_secs(3), 14, 44, 58, srtt));
    // t = 3 s > K: W_cubic(3.02) = 20 + 0.4·0.553788³ = 20.067935 is the target
    // cwnd = 14.037815 + 14 · (20.067935 − 14.037815)/14.037815 = 20.051691 → 20 packets
    assert_eq!(c.window(), 20);
    assert!(close(rate(&c, 1452, srtt).unwrap_or(0.0), 1_815_000.0), "1.25 · 20 · 1452 / 0.02");
    assert!(rate(&c, 1452, Duration::ZERO).is_none());
}
