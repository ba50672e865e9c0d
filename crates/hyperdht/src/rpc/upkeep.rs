//! Routing-table upkeep, as dht-rpc's 5 s tick does it (`_ontick`, `_pingSome`, `_check`,
//! `_repingAndSwap`, `refresh`), and DELAYED_PING.
//!
//! - Every [`PING_EVERY`] ticks the least recently pinged nodes (5, or 3 when requests are
//!   in flight; 2 when even the oldest was pinged within the last minute) get a PING; one
//!   that does not answer after its retries leaves the table.
//! - A node that lands in a full row makes us PING that row's least recently pinged node
//!   (unless that node is older than 30 min and was pinged within the last minute); if it
//!   does not answer, the newcomer takes its place.
//! - A background FIND_NODE query refreshes the table every [`REFRESH_EVERY`] ticks, and
//!   every [`SPARSE_REFRESH_EVERY`] ticks while the table holds fewer than k nodes. Its
//!   replies and end are not reported as events.
//! - DELAYED_PING (value: u32 LE milliseconds, at most [`MAX_PING_DELAY`]) is answered after
//!   the delay; at most [`MAX_DELAYED_PINGS`] wait at once, more are dropped.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::{Purpose, Rpc};
use crate::message::{Id, Request, command};
use crate::routing::Node;

/// dht-rpc's table tick.
pub const TICK_INTERVAL: Duration = Duration::from_secs(5);
/// Ticks between rounds of pings to the least recently pinged nodes.
pub const PING_EVERY: u64 = 8;
/// Ticks between background refresh queries.
pub const REFRESH_EVERY: u64 = 60;
/// Ticks between refresh queries while the table holds fewer than k nodes.
pub const SPARSE_REFRESH_EVERY: u64 = 64;
/// Longest delay a DELAYED_PING may ask for (dht-rpc's `maxPingDelay`).
pub const MAX_PING_DELAY: Duration = Duration::from_secs(10);
/// DELAYED_PINGs waiting at most.
pub const MAX_DELAYED_PINGS: usize = 256;
/// A node heard from or pinged within this many drain ticks (750 ms) counts as recent (60 s).
const RECENT: u64 = 80;
/// A node in the table for more than this many drain ticks counts as old (30 min).
const OLD: u64 = 2400;

/// Upkeep state of the core.
#[derive(Debug)]
pub(super) struct Upkeep {
    pub(super) bootstrap: Vec<SocketAddrV4>,
    next_tick: Instant,
    ticks: u64,
    since_refresh: u64,
    /// (due, requester, request), sorted by due time.
    delayed: Vec<(Instant, SocketAddrV4, Request)>,
}

impl Upkeep {
    pub(super) fn new(now: Instant) -> Self {
        Self { bootstrap: Vec::new(), next_tick: now + TICK_INTERVAL, ticks: 0, since_refresh: 0, delayed: Vec::new() }
    }

    pub(super) fn next_deadline(&self) -> Instant {
        self.delayed.first().map_or(self.next_tick, |d| d.0.min(self.next_tick))
    }
}

impl Rpc {
    /// The nodes a refresh query falls back to when the table is short (set by the shell).
    pub fn set_bootstrap(&mut self, nodes: Vec<SocketAddrV4>) {
        self.upkeep.bootstrap = nodes;
    }

    /// Runs due table ticks and answers due DELAYED_PINGs.
    pub(super) fn upkeep(&mut self, now: Instant) {
        while let Some((due, _, _)) = self.upkeep.delayed.first() {
            if *due > now {
                break;
            }
            let (_, to, req) = self.upkeep.delayed.remove(0);
            self.respond(to, &req, 0, None, false, false);
        }
        while now >= self.upkeep.next_tick {
            self.upkeep.next_tick += TICK_INTERVAL;
            self.upkeep.ticks += 1;
            self.upkeep.since_refresh += 1;
            if self.upkeep.ticks.is_multiple_of(PING_EVERY) {
                self.ping_some(now);
            }
            let sparse = self.table.len() < self.config.k && self.upkeep.ticks.is_multiple_of(SPARSE_REFRESH_EVERY);
            if sparse || self.upkeep.since_refresh >= REFRESH_EVERY {
                self.refresh(now);
            }
        }
    }

    fn ping_some(&mut self, now: Instant) {
        let mut nodes: Vec<&Node> = self.table.nodes().collect();
        nodes.sort_by_key(|n| n.pinged);
        let Some(oldest) = nodes.first() else {
            self.refresh(now);
            return;
        };
        let mut count = if self.in_flight.len() > 2 { 3 } else { 5 };
        if self.tick.saturating_sub(oldest.pinged) < RECENT {
            count = 2;
        }
        let due: Vec<(Id, SocketAddrV4)> = nodes.iter().take(count).filter(|n| n.pinged != self.tick).map(|n| (n.id, n.addr)).collect();
        for (id, addr) in due {
            self.check(now, id, addr, Purpose::Silent);
        }
    }

    /// PINGs a table node; a node that never answers is removed when the request times out.
    fn check(&mut self, now: Instant, id: Id, addr: SocketAddrV4, purpose: Purpose) {
        let t = self.tick;
        if let Some(n) = self.table.get_mut(&id) {
            n.pinged = t;
        }
        let retries = self.config.retries;
        // at capacity the check is skipped; the next round tries again
        let _ = self.send_request(now, addr, true, command::PING, None, None, None, retries, purpose);
    }

    fn refresh(&mut self, now: Instant) {
        self.upkeep.since_refresh = 0;
        let n = self.table.len();
        let target = match self.table.nodes().nth((self.upkeep.ticks as usize) % n.max(1)) {
            Some(node) => node.id,
            None => *self.table.id(),
        };
        let bootstrap = self.upkeep.bootstrap.clone();
        if let Ok(id) = self.query(now, target, true, command::FIND_NODE, None, &bootstrap)
            && let Some(r) = self.queries.get_mut(&id.0)
        {
            r.background = true;
        }
    }

    /// `newcomer` found its row full: reping the row's least recently pinged node and swap
    /// the newcomer in if it is gone.
    pub(super) fn on_row_full(&mut self, now: Instant, newcomer: Node, row: usize) {
        let Some(old) = self.table.least_recently_pinged(row) else { return };
        // an old node we heard from lately stays without a check (dht-rpc's rule)
        if self.tick.saturating_sub(old.pinged) < RECENT && self.tick.saturating_sub(old.added) > OLD {
            return;
        }
        let (id, addr) = (old.id, old.addr);
        if self.in_flight.values().any(|r| r.to == addr) {
            return; // already being checked
        }
        self.check(now, id, addr, Purpose::Swap(Box::new(newcomer)));
    }

    /// Queues the reply to a DELAYED_PING.
    pub(super) fn delayed_ping(&mut self, now: Instant, from: SocketAddrV4, req: Request) {
        let Some(v) = req.value.as_deref().filter(|v| v.len() >= 4) else { return };
        let ms = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        let delay = Duration::from_millis(u64::from(ms));
        if delay > MAX_PING_DELAY || self.upkeep.delayed.len() >= MAX_DELAYED_PINGS {
            return;
        }
        let due = now + delay;
        let at = self.upkeep.delayed.partition_point(|d| d.0 <= due);
        self.upkeep.delayed.insert(at, (due, from, req));
    }
}
