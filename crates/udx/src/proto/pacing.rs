//! Pacing: a token bucket refilled at `gain · cwnd · payload / srtt` (gain 2 in
//! slow start, 1.25 after; Linux paces CUBIC at 2 and 1.2), so a window is
//! spread over an RTT instead of leaving in one burst. The bucket holds at least
//! 2 ms of sending, so a 1 ms timer granularity in the shell never caps the rate.

use std::time::{Duration, Instant};

use super::cc::Congestion;

/// Gain on `cwnd / srtt` in slow start and after it.
const SLOW_START_GAIN: f64 = 2.0;
const AVOIDANCE_GAIN: f64 = 1.25;

/// The pacing rate in bytes/s: `gain · cwnd · payload / srtt` (`None` for a zero srtt).
pub(crate) fn rate(cc: &Congestion, payload: usize, srtt: Duration) -> Option<f64> {
    let srtt = srtt.as_secs_f64();
    if srtt <= 0.0 {
        return None;
    }
    let gain = if cc.in_slow_start() { SLOW_START_GAIN } else { AVOIDANCE_GAIN };
    Some(gain * f64::from(cc.window()) * payload as f64 / srtt)
}

/// Smallest bucket, in bytes.
const MIN_BURST: f64 = 16.0 * 1500.0;
/// Bucket depth in time at the current rate.
const BURST_TIME: f64 = 0.002;

/// The token bucket.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    tokens: f64,
    rate: f64,
    last: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Pacer { tokens: MIN_BURST, rate: 0.0, last: None }
    }

    /// Refills for the time since the last call; `rate` in bytes/s (`None` = unpaced).
    pub(crate) fn refill(&mut self, now: Instant, rate: Option<f64>) {
        self.rate = rate.filter(|r| r.is_finite() && *r > 0.0).unwrap_or(0.0);
        let elapsed = self.last.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last = Some(now);
        let burst = (self.rate * BURST_TIME).max(MIN_BURST);
        self.tokens = (self.tokens + self.rate * elapsed).min(burst);
    }

    /// Whether a data packet may leave now.
    pub(crate) fn can_send(&self) -> bool {
        self.rate == 0.0 || self.tokens > 0.0
    }

    pub(crate) fn on_sent(&mut self, bytes: usize) {
        if self.rate > 0.0 {
            self.tokens -= bytes as f64;
        }
    }

    /// When the bucket has tokens again, if it is empty.
    pub(crate) fn next_send(&self, now: Instant) -> Option<Instant> {
        if self.can_send() {
            return None;
        }
        let wait = ((1.0 - self.tokens) / self.rate).clamp(0.0, 1.0);
        Some(now + Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_millis(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_bursts_and_refills() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        p.refill(t0, Some(10_000_000.0)); // 10 MB/s: bucket 24 kB
        let mut sent = 0;
        while p.can_send() {
            p.on_sent(1500);
            sent += 1;
        }
        assert_eq!(sent, 16);
        let next = p.next_send(t0).unwrap();
        assert!(next > t0 && next - t0 < Duration::from_millis(1));
        p.refill(t0 + Duration::from_millis(10), Some(10_000_000.0));
        assert!(p.can_send());
        let mut unpaced = Pacer::new();
        unpaced.refill(t0, None);
        unpaced.on_sent(1 << 30);
        assert!(unpaced.can_send());
    }
}
