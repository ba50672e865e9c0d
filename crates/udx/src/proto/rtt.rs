//! RTT estimation and the retransmission timeout, as libudx computes them
//! (RFC 6298 with a 1 s floor and a 30 s cap).

use std::time::Duration;

/// Smallest RTO (libudx: `max(srtt + 4·rttvar, 1000 ms)`).
pub(crate) const MIN_RTO: Duration = Duration::from_millis(1000);
/// Largest RTO and largest backed-off timer (libudx `UDX_RTO_MAX_MS`).
pub(crate) const MAX_RTO: Duration = Duration::from_millis(30_000);

/// Smoothed RTT, variance, minimum and the derived RTO.
#[derive(Debug, Clone)]
pub(crate) struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    min: Option<Duration>,
    latest: Duration,
    rto: Duration,
}

impl Rtt {
    pub(crate) fn new() -> Self {
        Rtt { srtt: None, rttvar: Duration::ZERO, min: None, latest: Duration::ZERO, rto: MIN_RTO }
    }

    /// Feeds one sample from a packet that was transmitted once.
    pub(crate) fn sample(&mut self, rtt: Duration) {
        let rtt = rtt.min(MAX_RTO);
        self.latest = rtt;
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        self.rto = (srtt + self.rttvar * 4).clamp(MIN_RTO, MAX_RTO);
    }

    /// The latest sample (used by RACK).
    pub(crate) fn latest(&self) -> Duration {
        self.latest
    }

    /// The smoothed RTT, or `None` before the first sample.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The minimum RTT seen.
    pub(crate) fn min(&self) -> Duration {
        self.min.unwrap_or(Duration::ZERO)
    }

    /// The current RTO, before backoff.
    pub(crate) fn rto(&self) -> Duration {
        self.rto
    }

    /// The RTO after `backoff` consecutive timeouts: doubled each time, capped.
    pub(crate) fn backed_off(&self, backoff: u32) -> Duration {
        let factor = 1u32 << backoff.min(8);
        (self.rto * factor).min(MAX_RTO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rto_has_a_floor_and_backs_off() {
        let mut r = Rtt::new();
        assert_eq!(r.rto(), MIN_RTO);
        r.sample(Duration::from_millis(10));
        assert_eq!(r.srtt(), Some(Duration::from_millis(10)));
        assert_eq!(r.rto(), MIN_RTO);
        assert_eq!(r.backed_off(1), MIN_RTO * 2);
        assert_eq!(r.backed_off(3), MIN_RTO * 8);
        assert_eq!(r.backed_off(20), MAX_RTO);
        r.sample(Duration::from_secs(2));
        assert!(r.rto() > Duration::from_secs(2));
        assert_eq!(r.min(), Duration::from_millis(10));
    }
}
