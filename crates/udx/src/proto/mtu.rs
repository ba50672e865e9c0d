//! Path-MTU probing as libudx does it: start at 1200, pad one full data packet
//! per step (through `data_offset`) to the next size, 32 bytes at a time, up to
//! 1500; a probe counts when it is acked; 3 lost probes end the search.

/// Starting MTU (libudx `UDX_MTU_BASE`).
pub(crate) const MTU_BASE: u16 = 1200;
/// Largest MTU probed (libudx `UDX_MTU_MAX`).
pub(crate) const MTU_MAX: u16 = 1500;
const STEP: u16 = 32;
const MAX_PROBES: u8 = 3;
/// IPv4 + UDP + UDX header bytes.
pub(crate) const OVERHEAD_V4: u16 = 20 + 8 + 20;
/// IPv6 + UDP + UDX header bytes.
pub(crate) const OVERHEAD_V6: u16 = 40 + 8 + 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Base,
    Search,
    Complete,
}

/// The MTU search.
#[derive(Debug, Clone)]
pub(crate) struct Mtu {
    mtu: u16,
    max: u16,
    probe_size: u16,
    probes_lost: u8,
    probe_in_flight: bool,
    wanted: bool,
    state: State,
    overhead: u16,
}

impl Mtu {
    /// `probe`: whether to search at all; `max` is clamped to 1200..=1500.
    pub(crate) fn new(probe: bool, max: u16, ipv6: bool) -> Self {
        let max = max.clamp(MTU_BASE, MTU_MAX);
        Mtu {
            mtu: MTU_BASE,
            max,
            probe_size: (MTU_BASE + STEP).min(max),
            probes_lost: 0,
            probe_in_flight: false,
            wanted: false,
            state: if probe && max > MTU_BASE { State::Base } else { State::Complete },
            overhead: if ipv6 { OVERHEAD_V6 } else { OVERHEAD_V4 },
        }
    }

    /// The current MTU.
    pub(crate) fn mtu(&self) -> u16 {
        self.mtu
    }

    /// Payload bytes per packet at the current MTU.
    pub(crate) fn max_payload(&self) -> usize {
        usize::from(self.mtu - self.overhead)
    }

    /// Padding to turn a packet with `payload` bytes into a probe, if one is wanted.
    pub(crate) fn probe_padding(&mut self, payload: usize) -> Option<u8> {
        if !self.wanted || self.state != State::Search || payload < self.max_payload() {
            return None;
        }
        let size = payload + usize::from(self.overhead);
        let pad = usize::from(self.probe_size).checked_sub(size)?;
        let pad = u8::try_from(pad).ok().filter(|p| *p > 0)?;
        self.wanted = false;
        self.probe_in_flight = true;
        Some(pad)
    }

    /// Any packet was acked (starts the search after the first ack).
    pub(crate) fn on_ack(&mut self) {
        if self.state == State::Base {
            self.state = State::Search;
            self.wanted = true;
        }
    }

    /// A probe packet was acked.
    pub(crate) fn on_probe_acked(&mut self) {
        if self.state != State::Search || !self.probe_in_flight {
            return;
        }
        self.probe_in_flight = false;
        self.probes_lost = 0;
        self.mtu = self.probe_size;
        if self.probe_size >= self.max {
            self.state = State::Complete;
        } else {
            self.probe_size = (self.probe_size + STEP).min(self.max);
            self.wanted = true;
        }
    }

    /// A probe packet was declared lost (its retransmission is sent unpadded).
    pub(crate) fn on_probe_lost(&mut self) {
        if self.state != State::Search || !self.probe_in_flight {
            return;
        }
        self.probe_in_flight = false;
        self.probes_lost += 1;
        if self.probes_lost >= MAX_PROBES {
            self.state = State::Complete;
        } else {
            self.wanted = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbs_to_1500_and_stops_after_three_losses() {
        let mut m = Mtu::new(true, 1500, false);
        assert_eq!(m.max_payload(), 1152);
        assert_eq!(m.probe_padding(1152), None, "no probe before the first ack");
        m.on_ack();
        assert_eq!(m.probe_padding(1000), None, "only full packets are probes");
        assert_eq!(m.probe_padding(1152), Some(32));
        m.on_probe_acked();
        assert_eq!(m.mtu(), 1232);
        while m.mtu() < 1500 {
            let pad = m.probe_padding(m.max_payload());
            assert!(pad.is_some());
            m.on_probe_acked();
        }
        assert_eq!(m.max_payload(), 1452);
        assert_eq!(m.probe_padding(1452), None);

        let mut m = Mtu::new(true, 1500, false);
        m.on_ack();
        for _ in 0..3 {
            assert!(m.probe_padding(1152).is_some());
            m.on_probe_lost();
        }
        assert_eq!(m.probe_padding(1152), None);
        assert_eq!(m.mtu(), 1200);
    }
}
