//! Mutable / immutable value maps with a per-source-host quota, so one host writing many
//! keys cannot push everybody else's values out.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::aged::AgedMap;
use crate::message::Id;

/// Bytes charged per value besides its own (key, map slots).
pub(crate) const VALUE_OVERHEAD: usize = 64;

#[derive(Debug)]
struct Value {
    bytes: Vec<u8>,
    source: Ipv4Addr,
}

/// A bounded value map.
#[derive(Debug)]
pub(crate) struct Values {
    map: AgedMap<Id, Value>,
    per_source: HashMap<Ipv4Addr, usize>,
    max_per_source: usize,
}

impl Values {
    pub(crate) fn new(max_entries: usize, max_bytes: usize, max_age: Duration, max_per_source: usize) -> Self {
        Self { map: AgedMap::new(max_entries, max_bytes, max_age), per_source: HashMap::new(), max_per_source }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.map.bytes()
    }

    pub(crate) fn get(&self, k: &Id, now: Instant) -> Option<&Vec<u8>> {
        self.map.get(k, now).map(|v| &v.bytes)
    }

    fn refund(&mut self, source: Ipv4Addr) {
        if let Some(n) = self.per_source.get_mut(&source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        for (_, v) in self.map.expire(now) {
            self.refund(v.source);
        }
    }

    /// Stores `bytes` under `k` for `source`; false if the source is over its quota (a
    /// replacement of a live key does not count as new).
    pub(crate) fn insert(&mut self, k: Id, bytes: Vec<u8>, source: Ipv4Addr, now: Instant) -> bool {
        let known = self.map.get(&k, now).is_some();
        if !known && self.per_source.get(&source).copied().unwrap_or(0) >= self.max_per_source {
            return false;
        }
        let size = bytes.len() + VALUE_OVERHEAD;
        let (evicted, replaced) = self.map.insert(k, Value { bytes, source }, size, now);
        if let Some(old) = replaced {
            self.refund(old.source);
        }
        if self.map.get(&k, now).is_none() {
            // too large alone: the only "evicted" entry is the value itself, never charged
            return false;
        }
        *self.per_source.entry(source).or_insert(0) += 1;
        for (_, v) in evicted {
            self.refund(v.source);
        }
        true
    }
}
