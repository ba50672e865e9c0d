//! A deterministic lossy link between two [`Connection`]s, for tests: virtual
//! time, a seeded RNG, loss, duplication, reordering (jitter), delay and an
//! optional bottleneck rate with a bounded queue.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::proto::{Config, Connection};
use crate::rng::Rng;

/// Link behaviour, per direction.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Link {
    /// RNG seed.
    pub seed: u64,
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// One-way delay.
    pub delay: Duration,
    /// Extra random delay in `0..jitter` (reorders packets).
    pub jitter: Duration,
    /// Bottleneck in bytes per second (`None` = unlimited).
    pub rate: Option<u64>,
    /// Longest queueing delay at the bottleneck before tail drop.
    pub queue: Duration,
}

impl Default for Link {
    fn default() -> Self {
        Link {
            seed: 1,
            loss: 0.0,
            duplicate: 0.0,
            delay: Duration::from_millis(5),
            jitter: Duration::ZERO,
            rate: None,
            queue: Duration::from_millis(50),
        }
    }
}

impl Link {
    /// A link with `loss` and reordering by `jitter`, seeded.
    pub fn lossy(seed: u64, loss: f64, jitter: Duration) -> Link {
        Link { seed, loss, jitter, duplicate: loss / 4.0, ..Link::default() }
    }
}

/// A datagram on the wire: `(deliver at, tie-break, destination, bytes)`.
type InFlight = Reverse<(Instant, u64, Side, Vec<u8>)>;

/// Which side of a [`Pair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Side {
    /// Stream id 1.
    A,
    /// Stream id 2.
    B,
}

/// Two connected streams (ids 1 and 2) over a simulated link.
#[derive(Debug)]
pub struct Pair {
    /// Side A (local id 1, remote id 2).
    pub a: Connection,
    /// Side B (local id 2, remote id 1).
    pub b: Connection,
    /// The virtual clock.
    pub now: Instant,
    link: Link,
    rng: Rng,
    wire: BinaryHeap<InFlight>,
    counter: u64,
    busy_until: [Instant; 2],
    buf: Vec<u8>,
    /// Datagrams put on the wire.
    pub sent: u64,
    /// Datagrams the link dropped.
    pub dropped: u64,
}

impl Pair {
    /// Two connected streams with the given configs and link.
    pub fn new(config: Config, link: Link) -> Pair {
        let now = Instant::now();
        let mut a = Connection::new(1, config.clone(), now);
        let mut b = Connection::new(2, config, now);
        a.connect(2, false);
        b.connect(1, false);
        Pair {
            a,
            b,
            now,
            rng: Rng::new(link.seed),
            link,
            wire: BinaryHeap::new(),
            counter: 0,
            busy_until: [now; 2],
            buf: Vec::with_capacity(2048),
            sent: 0,
            dropped: 0,
        }
    }

    /// The connection on `side`.
    pub fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn put_on_wire(&mut self, to: Side, datagram: Vec<u8>) {
        self.sent += 1;
        if self.rng.chance(self.link.loss) {
            self.dropped += 1;
            return;
        }
        let mut at = self.now + self.link.delay;
        if let Some(rate) = self.link.rate.filter(|r| *r > 0) {
            let i = usize::from(to == Side::B);
            let start = self.busy_until[i].max(self.now);
            if start.saturating_duration_since(self.now) > self.link.queue {
                self.dropped += 1;
                return;
            }
            let ser = Duration::from_nanos(datagram.len() as u64 * 1_000_000_000 / rate);
            self.busy_until[i] = start + ser;
            at = self.busy_until[i] + self.link.delay;
        }
        let jitter = self.link.jitter.as_nanos() as u64;
        if jitter > 0 {
            at += Duration::from_nanos(self.rng.below(jitter));
        }
        let copies = if self.rng.chance(self.link.duplicate) { 2 } else { 1 };
        for c in 0..copies {
            self.counter += 1;
            let at = at + Duration::from_micros(c * 100);
            self.wire.push(Reverse((at, self.counter, to, datagram.clone())));
        }
    }

    /// Moves every datagram both sides want to send onto the wire.
    pub fn flush(&mut self) {
        for from in [Side::A, Side::B] {
            let to = if from == Side::A { Side::B } else { Side::A };
            // bounded: a connection emits at most its windows' worth per call
            for _ in 0..100_000 {
                let mut buf = std::mem::take(&mut self.buf);
                let now = self.now;
                let more = self.conn(from).poll_transmit(now, &mut buf);
                if !more {
                    self.buf = buf;
                    break;
                }
                self.put_on_wire(to, buf.clone());
                self.buf = buf;
            }
        }
    }

    /// Advances to the next event (delivery or timer) and runs it. Returns
    /// `false` when nothing at all is pending.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_wire = self.wire.peek().map(|Reverse((t, ..))| *t);
        let next = [next_wire, self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        while let Some(Reverse((t, ..))) = self.wire.peek() {
            if *t > self.now {
                break;
            }
            let Some(Reverse((_, _, to, d))) = self.wire.pop() else { break };
            let now = self.now;
            let _ = self.conn(to).handle_datagram(now, &d);
        }
        let now = self.now;
        self.a.handle_timeout(now);
        self.b.handle_timeout(now);
        true
    }
}
