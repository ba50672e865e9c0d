//! Congestion control end to end: bulk flows through one shared bottleneck
//! (a rate limit with a tail-drop queue), in virtual time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::{Config, Connection};

const MIB: u64 = 1024 * 1024;

/// A datagram on the wire: `(deliver at, tie-break, flow, to the receiver, bytes)`.
type InFlight = Reverse<(Instant, u64, usize, bool, Vec<u8>)>;

/// Senders and receivers; sender → receiver shares one bottleneck, acks do not.
struct Dumbbell {
    now: Instant,
    senders: Vec<Connection>,
    receivers: Vec<Connection>,
    starts: Vec<Instant>,
    wire: BinaryHeap<InFlight>,
    counter: u64,
    busy_until: Instant,
    rate: u64,
    delay: Duration,
    queue: Duration,
    sent: u64,
    dropped: u64,
    queue_sum: Duration,
    queue_max: Duration,
}

/// What a run measured.
#[derive(Debug)]
struct Outcome {
    /// Payload bytes each flow delivered inside the measurement window.
    bytes: Vec<u64>,
    window: Duration,
    sent: u64,
    dropped: u64,
    queue_mean: Duration,
    queue_max: Duration,
    rto_timeouts: u64,
}

impl Dumbbell {
    fn new(starts: &[Duration], rate: u64, delay: Duration, queue: Duration) -> Dumbbell {
        let now = Instant::now();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for i in 0..starts.len() as u32 {
            let (s, r) = (2 * i + 1, 2 * i + 2);
            let mut a = Connection::new(s, Config::default(), now);
            let mut b = Connection::new(r, Config::default(), now);
            a.connect(r, false);
            b.connect(s, false);
            senders.push(a);
            receivers.push(b);
        }
        Dumbbell {
            now,
            senders,
            receivers,
            starts: starts.iter().map(|d| now + *d).collect(),
            wire: BinaryHeap::new(),
            counter: 0,
            busy_until: now,
            rate,
            delay,
            queue,
            sent: 0,
            dropped: 0,
            queue_sum: Duration::ZERO,
            queue_max: Duration::ZERO,
        }
    }

    fn put(&mut self, flow: usize, to_receiver: bool, d: Vec<u8>) {
        let mut at = self.now + self.delay;
        if to_receiver {
            self.sent += 1;
            let start = self.busy_until.max(self.now);
            let q = start - self.now;
            if q > self.queue {
                self.dropped += 1;
                return;
            }
            self.queue_sum += q;
            self.queue_max = self.queue_max.max(q);
            self.busy_until = start + Duration::from_nanos(d.len() as u64 * 1_000_000_000 / self.rate);
            at = self.busy_until + self.delay;
        }
        self.counter += 1;
        self.wire.push(Reverse((at, self.counter, flow, to_receiver, d)));
    }

    fn flush(&mut self) {
        let mut buf = Vec::with_capacity(2048);
        for i in 0..self.senders.len() {
            for to_receiver in [true, false] {
                for _ in 0..100_000 {
                    let c = if to_receiver { &mut self.senders[i] } else { &mut self.receivers[i] };
                    if !c.poll_transmit(self.now, &mut buf) {
                        break;
                    }
                    self.put(i, to_receiver, buf.clone());
                }
            }
        }
    }

    /// Runs bulk transfers for `total`; counts delivery from `measure_from` on.
    fn run(mut self, total: Duration, measure_from: Duration) -> Outcome {
        let start = self.now;
        let chunk = vec![0x5a_u8; 64 * 1024];
        let mut buf = vec![0u8; 64 * 1024];
        let mut bytes = vec![0u64; self.senders.len()];
        while self.now < start + total {
            for (i, s) in self.senders.iter_mut().enumerate() {
                if self.now >= self.starts[i] {
                    while s.write(&chunk).is_ok_and(|n| n == chunk.len()) {}
                }
            }
            for (i, r) in self.receivers.iter_mut().enumerate() {
                while let Ok(Some(n)) = r.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if self.now >= start + measure_from {
                        bytes[i] += n as u64;
                    }
                }
            }
            self.flush();
            let timers = self.senders.iter().chain(&self.receivers).filter_map(|c| c.poll_timeout());
            let pending_start = self.starts.iter().copied().filter(|t| *t > self.now);
            let next_wire = self.wire.peek().map(|Reverse((t, ..))| *t);
            let Some(next) = timers.chain(pending_start).chain(next_wire).min() else { break };
            self.now = self.now.max(next);
            while self.wire.peek().is_some_and(|Reverse((t, ..))| *t <= self.now) {
                let Some(Reverse((_, _, i, to_receiver, d))) = self.wire.pop() else { break };
                let c = if to_receiver { &mut self.receivers[i] } else { &mut self.senders[i] };
                let _ = c.handle_datagram(self.now, &d);
            }
            for c in self.senders.iter_mut().chain(self.receivers.iter_mut()) {
                c.handle_timeout(self.now);
            }
        }
        let accepted = (self.sent - self.dropped).max(1);
        Outcome {
            bytes,
            window: total - measure_from,
            sent: self.sent,
            dropped: self.dropped,
            queue_mean: self.queue_sum / u32::try_from(accepted).unwrap_or(u32::MAX),
            queue_max: self.queue_max,
            rto_timeouts: self.senders.iter().map(|s| s.stats().rto_timeouts).sum(),
        }
    }
}

fn rate_of(bytes: u64, window: Duration) -> f64 {
    bytes as f64 / window.as_secs_f64()
}

#[test]
fn one_flow_fills_the_bottleneck_with_a_bounded_queue() {
    // 4 MiB/s, 20 ms RTT (BDP ≈ 58 packets), 50 ms of buffer (≈ 145 packets)
    let rate = 4 * MIB;
    let queue = Duration::from_millis(50);
    let out = Dumbbell::new(&[Duration::ZERO], rate, Duration::from_millis(10), queue).run(Duration::from_secs(12), Duration::from_secs(2));
    let got = rate_of(out.bytes[0], out.window);
    println!("{out:?}: {:.1} % of the bottleneck", 100.0 * got / rate as f64);
    assert!(got >= 0.8 * rate as f64, "throughput {got:.0} B/s of {rate}");
    // tail drop bounds the queue at the buffer; it does not stand full
    assert!(out.queue_max <= queue && out.queue_mean < queue * 9 / 10, "{out:?}");
    assert!(out.dropped * 100 <= out.sent, "≤ 1 % of packets dropped: {out:?}");
    assert_eq!(out.rto_timeouts, 0, "{out:?}");
}

#[test]
fn two_flows_share_one_bottleneck() {
    // the second flow joins 2 s after the first has filled the link
    let rate = 4 * MIB;
    let starts = [Duration::ZERO, Duration::from_secs(2)];
    let out = Dumbbell::new(&starts, rate, Duration::from_millis(10), Duration::from_millis(50))
        .run(Duration::from_secs(30), Duration::from_secs(10));
    let (a, b) = (out.bytes[0] as f64, out.bytes[1] as f64);
    println!("{out:?}: shares {:.2} / {:.2}", a / (a + b), b / (a + b));
    assert!(a.max(b) <= 2.0 * a.min(b), "unfair: {out:?}");
    assert!(rate_of(out.bytes[0] + out.bytes[1], out.window) >= 0.8 * rate as f64, "{out:?}");
}
