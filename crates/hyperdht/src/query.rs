//! The iterative lookup of `dht-rpc/lib/query.js` as a sans-IO state machine.
//!
//! The driver asks [`Query::next_visit`] for nodes to send the query's request to (at most
//! `concurrency` in flight), and feeds back [`Query::on_response`] / [`Query::on_timeout`].
//! Candidates are kept on a stack, as dht-rpc does, and a candidate is only taken while it
//! is closer to the target than the k-th best reply so far. `closest` keeps at most k replies
//! that had error 0 and a valid id (ephemeral responders never count). The query is
//! finished when nothing is pending and nothing is in flight.
//!
//! Bounded: at most [`MAX_SEEN`] distinct addresses are tracked per query; further
//! candidates are ignored.
//! Not modelled: dht-rpc's "slow request" widening and the retry from the routing table
//! when fewer than k/4 replies succeeded.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use crate::message::Id;
use crate::peer::{distance, node_id};

/// Most addresses one query tracks.
pub const MAX_SEEN: usize = 4096;
/// Most referrers remembered per candidate (targets of DOWN_HINTs).
const MAX_REFS: usize = 8;

/// A reply that counts towards the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The responder's (validated) id.
    pub id: Id,
    /// The responder's address.
    pub addr: SocketAddrV4,
    /// The write token it gave us.
    pub token: Option<Id>,
    /// Its reply value.
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
enum Seen {
    Queued(Vec<SocketAddrV4>),
    Done,
    Down,
}

/// One iterative query.
#[derive(Debug, Clone)]
pub struct Query {
    target: Id,
    own_id: Id,
    k: usize,
    concurrency: usize,
    pending: Vec<(Id, SocketAddrV4)>,
    seen: HashMap<SocketAddrV4, Seen>,
    inflight: usize,
    closest: Vec<Reply>,
    successes: usize,
    errors: usize,
}

impl Query {
    /// A query for `target`; `own_id` (our table id) is never visited. `start` is visited
    /// in order (the routing table's closest nodes, then bootstrap nodes).
    pub fn new(target: Id, own_id: Id, k: usize, concurrency: usize, start: impl IntoIterator<Item = SocketAddrV4>) -> Self {
        let mut q = Self {
            target,
            own_id,
            k: k.max(1),
            concurrency: concurrency.max(1),
            pending: Vec::new(),
            seen: HashMap::new(),
            inflight: 0,
            closest: Vec::new(),
            successes: 0,
            errors: 0,
        };
        let start: Vec<_> = start.into_iter().collect();
        for addr in start.into_iter().rev() {
            q.add_pending(node_id(addr), addr, None);
        }
        q
    }

    /// The target.
    pub fn target(&self) -> &Id {
        &self.target
    }

    fn is_closer(&self, id: &Id) -> bool {
        match self.closest.get(self.k - 1) {
            Some(last) if self.closest.len() >= self.k => distance(id, &self.target) < distance(&last.id, &self.target),
            _ => true,
        }
    }

    /// Queues a candidate; returns whether it was closer than the current k-th reply.
    fn add_pending(&mut self, id: Id, addr: SocketAddrV4, referrer: Option<SocketAddrV4>) -> bool {
        let closer = self.is_closer(&id);
        match self.seen.get_mut(&addr) {
            Some(Seen::Done) | Some(Seen::Down) => closer,
            Some(Seen::Queued(refs)) => {
                if let Some(r) = referrer.filter(|_| refs.len() < MAX_REFS) {
                    refs.push(r);
                }
                closer
            }
            None => {
                if !closer || self.seen.len() >= MAX_SEEN {
                    return false;
                }
                self.seen.insert(addr, Seen::Queued(referrer.into_iter().collect()));
                self.pending.push((id, addr));
                true
            }
        }
    }

    /// The next node to send the query to, if concurrency allows; counts it as in flight.
    pub fn next_visit(&mut self) -> Option<SocketAddrV4> {
        while self.inflight < self.concurrency {
            let (id, addr) = self.pending.pop()?;
            if !self.is_closer(&id) {
                continue;
            }
            self.inflight += 1;
            return Some(addr);
        }
        None
    }

    /// A response from `from`. `id` is the responder's id if it sent one that matches its
    /// address.
    pub fn on_response(
        &mut self,
        from: SocketAddrV4,
        id: Option<Id>,
        error: u64,
        token: Option<Id>,
        value: Option<Vec<u8>>,
        closer_nodes: &[SocketAddrV4],
    ) {
        self.inflight = self.inflight.saturating_sub(1);
        self.seen.insert(from, Seen::Done);
        if error == 0 {
            self.successes += 1;
        } else {
            self.errors += 1;
        }
        if let Some(id) = id.filter(|id| error == 0 && self.is_closer(id)) {
            let reply = Reply { id, addr: from, token, value };
            let d = distance(&id, &self.target);
            let at = self.closest.partition_point(|r| distance(&r.id, &self.target) < d);
            if self.closest.get(at).map(|r| r.addr) != Some(from) {
                self.closest.insert(at, reply);
                self.closest.truncate(self.k);
            }
        }
        for &addr in closer_nodes {
            let nid = node_id(addr);
            if nid == self.own_id {
                continue;
            }
            if !self.add_pending(nid, addr, Some(from)) {
                break;
            }
        }
    }

    /// The request to `to` timed out (after its retries). Marks it down and returns the nodes
    /// that referred it, to which dht-rpc sends a DOWN_HINT about `to`.
    pub fn on_timeout(&mut self, to: SocketAddrV4) -> Vec<SocketAddrV4> {
        self.inflight = self.inflight.saturating_sub(1);
        self.errors += 1;
        match self.seen.insert(to, Seen::Down) {
            Some(Seen::Queued(refs)) => refs,
            _ => Vec::new(),
        }
    }

    /// Nothing pending, nothing in flight.
    pub fn is_finished(&self) -> bool {
        self.inflight == 0 && self.pending.is_empty()
    }

    /// Requests in flight.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// The closest replies so far (at most k, nearest first).
    pub fn closest(&self) -> &[Reply] {
        &self.closest
    }

    /// Replies with error 0 so far, and replies with an error or timeouts.
    pub fn counts(&self) -> (usize, usize) {
        (self.successes, self.errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(p: u16) -> SocketAddrV4 {
        SocketAddrV4::new([127, 0, 0, 1].into(), p)
    }

    /// A simulated network of 200 persistent nodes where each knows its 30 nearest
    /// neighbours of the target; the query must converge on the true k closest.
    #[test]
    fn converges_on_the_k_closest() {
        let target = [0x5a; 32];
        let nodes: Vec<SocketAddrV4> = (1..=200).map(|p| addr(20_000 + p)).collect();
        let mut by_dist = nodes.clone();
        by_dist.sort_by_key(|a| distance(&node_id(*a), &target));
        let mut q = Query::new(target, [0; 32], 20, 10, [nodes[0], nodes[1]]);
        let mut steps = 0;
        while !q.is_finished() {
            steps += 1;
            assert!(steps < 10_000);
            let mut batch = Vec::new();
            while let Some(a) = q.next_visit() {
                batch.push(a);
            }
            assert!(batch.len() <= 10);
            for a in batch {
                // each node answers with the 3 nodes just closer than itself plus some far ones
                let pos = by_dist.iter().position(|x| *x == a).unwrap();
                let mut closer: Vec<_> = by_dist[pos.saturating_sub(20)..pos].to_vec();
                closer.push(by_dist[199]);
                q.on_response(a, Some(node_id(a)), 0, None, None, &closer);
            }
        }
        let got: Vec<_> = q.closest().iter().map(|r| r.addr).collect();
        assert_eq!(got, by_dist[..20].to_vec());
    }

    #[test]
    fn timeouts_return_referrers_and_ephemeral_replies_do_not_count() {
        let mut q = Query::new([1; 32], [0; 32], 20, 10, [addr(1)]);
        assert_eq!(q.next_visit(), Some(addr(1)));
        q.on_response(addr(1), None, 0, None, None, &[addr(2)]);
        assert!(q.closest().is_empty(), "no id: not counted");
        assert_eq!(q.next_visit(), Some(addr(2)));
        assert_eq!(q.on_timeout(addr(2)), vec![addr(1)]);
        assert!(q.is_finished());
        assert_eq!(q.counts(), (1, 1));
    }
}
