//! Announce records per topic, router entries (announce-self), per-source quotas and the
//! per-source write rate limit.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use super::Limits;
use super::aged::AgedMap;
use crate::message::Id;

/// Bytes charged per stored record besides its encoding (keys, map slots).
pub(crate) const RECORD_OVERHEAD: usize = 128;

/// One stored announce.
#[derive(Debug)]
pub(crate) struct Stored {
    /// `peer` encoding (public key + at most 3 relays).
    pub(crate) record: Vec<u8>,
    /// Host that announced it (quota accounting).
    pub(crate) source: Ipv4Addr,
}

/// A router entry: where to forward PEER_HANDSHAKE / PEER_HOLEPUNCH for a server's key.
#[derive(Debug, Clone)]
pub(crate) struct RouterEntry {
    /// The UDP address the announce-self came from.
    pub(crate) relay: SocketAddrV4,
    /// The server's `peer` record (FIND_PEER / LOOKUP answer).
    pub(crate) record: Vec<u8>,
    pub(crate) source: Ipv4Addr,
    /// Addresses the server answered relayed handshakes from (its puncher sockets); holepunch
    /// messages may be forwarded to these. Bounded by [`MAX_SERVER_ADDRS`].
    pub(crate) server_addrs: Vec<SocketAddrV4>,
}

/// Server reply addresses remembered per router entry.
pub(crate) const MAX_SERVER_ADDRS: usize = 4;

#[derive(Debug, Default)]
struct Topic {
    keys: Vec<[u8; 32]>,
    bump: u64,
}

/// Token bucket of one source host.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// The announce side of the store.
#[derive(Debug)]
pub(crate) struct Announces {
    records: AgedMap<(Id, [u8; 32]), Stored>,
    topics: HashMap<Id, Topic>,
    router: AgedMap<Id, RouterEntry>,
    /// Live records + router entries per source host.
    per_source: HashMap<Ipv4Addr, usize>,
    buckets: HashMap<Ipv4Addr, Bucket>,
    limits: Limits,
}

impl Announces {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            records: AgedMap::new(limits.max_records, limits.max_record_bytes, limits.record_max_age),
            topics: HashMap::new(),
            router: AgedMap::new(limits.max_router_entries, limits.max_router_entries.saturating_mul(256), limits.record_max_age),
            per_source: HashMap::new(),
            buckets: HashMap::new(),
            limits,
        }
    }

    pub(crate) fn record_count(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn record_bytes(&self) -> usize {
        self.records.bytes()
    }

    pub(crate) fn topic_count(&self) -> usize {
        self.topics.len()
    }

    pub(crate) fn router_count(&self) -> usize {
        self.router.len()
    }

    /// Takes one write token for `source`; false = rate limited (the request is dropped).
    pub(crate) fn allow_write(&mut self, source: Ipv4Addr, now: Instant) -> bool {
        let burst = f64::from(self.limits.writes_burst);
        let rate = f64::from(self.limits.writes_per_sec);
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.limits.max_sources {
            // Buckets that refilled are equal to a fresh one: forget them.
            self.buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst);
            if self.buckets.len() >= self.limits.max_sources {
                return false;
            }
        }
        let b = self.buckets.entry(source).or_insert(Bucket { tokens: burst, last: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn quota_ok(&self, source: Ipv4Addr) -> bool {
        self.per_source.get(&source).copied().unwrap_or(0) < self.limits.max_per_source
    }

    fn charge(&mut self, source: Ipv4Addr) {
        *self.per_source.entry(source).or_insert(0) += 1;
    }

    fn refund(&mut self, source: Ipv4Addr) {
        if let Some(n) = self.per_source.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }

    fn forget_record(&mut self, topic: &Id, pk: &[u8; 32], source: Ipv4Addr) {
        if let Some(t) = self.topics.get_mut(topic) {
            t.keys.retain(|k| k != pk);
            if t.keys.is_empty() {
                self.topics.remove(topic);
            }
        }
        self.refund(source);
    }

    fn after_evictions(&mut self, evicted: Vec<((Id, [u8; 32]), Stored)>) {
        for ((topic, pk), s) in evicted {
            self.forget_record(&topic, &pk, s.source);
        }
    }

    /// Drops expired records and router entries.
    pub(crate) fn expire(&mut self, now: Instant) {
        let ev = self.records.expire(now);
        self.after_evictions(ev);
        for (_, e) in self.router.expire(now) {
            self.refund(e.source);
        }
    }

    /// Stores a topic record of `rec.1` from `source`. False if the source is over its quota.
    pub(crate) fn add_record(
        &mut self,
        topic: Id,
        rec: ([u8; 32], Vec<u8>),
        source: Ipv4Addr,
        bump: u64,
        now: Instant,
        now_unix_ms: u64,
    ) -> bool {
        let (public_key, record) = rec;
        let key = (topic, public_key);
        let known = self.records.get(&key, now).is_some();
        if !known && !self.quota_ok(source) {
            return false;
        }
        // A new key in a full topic replaces the topic's oldest record.
        if !known {
            if let Some(t) = self.topics.get(&topic) {
                let oldest = t.keys.iter().min_by_key(|k| self.records.order(&(topic, **k)).unwrap_or(0)).copied();
                if t.keys.len() >= self.limits.max_per_topic
                    && let Some(old) = oldest
                    && let Some(s) = self.records.remove(&(topic, old))
                {
                    self.forget_record(&topic, &old, s.source);
                }
            } else if self.topics.len() >= self.limits.max_topics {
                return false;
            }
        }
        let size = record.len() + RECORD_OVERHEAD;
        let (evicted, replaced) = self.records.insert(key, Stored { record, source }, size, now);
        if let Some(old) = replaced {
            self.forget_record(&topic, &public_key, old.source);
        }
        let stored = self.records.get(&key, now).is_some();
        if stored {
            self.charge(source);
            let t = self.topics.entry(topic).or_default();
            t.keys.push(public_key);
            if bump > t.bump && bump <= now_unix_ms.saturating_add(super::MAX_BUMP_DRIFT_MS) {
                t.bump = bump;
            }
        }
        self.after_evictions(evicted);
        stored
    }

    /// Removes a topic record (UNANNOUNCE, or the key announced itself).
    pub(crate) fn remove_record(&mut self, topic: &Id, public_key: &[u8; 32]) {
        if let Some(s) = self.records.remove(&(*topic, *public_key)) {
            self.forget_record(topic, public_key, s.source);
        }
    }

    /// Up to `max_per_topic` live records of `topic` and its bump.
    pub(crate) fn lookup(&self, topic: &Id, now: Instant) -> (Vec<&[u8]>, u64) {
        let Some(t) = self.topics.get(topic) else {
            return (Vec::new(), 0);
        };
        let recs = t
            .keys
            .iter()
            .filter_map(|k| self.records.get(&(*topic, *k), now))
            .map(|s| &s.record[..])
            .take(self.limits.max_per_topic)
            .collect();
        (recs, t.bump)
    }

    /// Sets the router entry for `target` (announce-self). False if over quota.
    pub(crate) fn set_router(&mut self, target: Id, relay: SocketAddrV4, record: Vec<u8>, now: Instant) -> bool {
        let source = *relay.ip();
        let known = self.router.get(&target, now).is_some();
        if !known && !self.quota_ok(source) {
            return false;
        }
        let size = record.len() + RECORD_OVERHEAD;
        let (evicted, replaced) = self.router.insert(target, RouterEntry { relay, record, source, server_addrs: Vec::new() }, size, now);
        if let Some(old) = replaced {
            self.refund(old.source);
        }
        let stored = self.router.get(&target, now).is_some();
        if stored {
            self.charge(source);
        }
        for (_, e) in evicted {
            self.refund(e.source);
        }
        stored
    }

    pub(crate) fn router(&self, target: &Id, now: Instant) -> Option<&RouterEntry> {
        self.router.get(target, now)
    }

    /// Remembers `addr` as an address the server of `target` answers from.
    pub(crate) fn note_server_addr(&mut self, target: &Id, addr: SocketAddrV4, now: Instant) {
        if self.router.get(target, now).is_none() {
            return;
        }
        if let Some(e) = self.router_mut(target)
            && e.relay != addr
            && !e.server_addrs.contains(&addr)
        {
            if e.server_addrs.len() >= MAX_SERVER_ADDRS {
                e.server_addrs.remove(0);
            }
            e.server_addrs.push(addr);
        }
    }

    fn router_mut(&mut self, target: &Id) -> Option<&mut RouterEntry> {
        self.router.get_mut(target)
    }

    pub(crate) fn remove_router(&mut self, target: &Id) {
        if let Some(e) = self.router.remove(target) {
            self.refund(e.source);
        }
    }

    #[cfg(test)]
    pub(crate) fn source_count(&self, source: Ipv4Addr) -> usize {
        self.per_source.get(&source).copied().unwrap_or(0)
    }
}
