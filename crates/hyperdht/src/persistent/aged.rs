//! [`AgedMap`]: a map bounded by entry count and byte total whose entries expire after a
//! maximum age; when full, the oldest entry goes first. Sans-IO: the caller passes `now`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Slot<V> {
    value: V,
    size: usize,
    order: u64,
    stored: Instant,
}

/// Bounded, expiring, insertion-ordered map. Inserting an existing key replaces it and makes it
/// the youngest.
#[derive(Debug)]
pub(crate) struct AgedMap<K, V> {
    map: HashMap<K, Slot<V>>,
    /// Insertion order → key; the first entry is the oldest.
    ages: BTreeMap<u64, K>,
    next: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl<K: Hash + Eq + Clone, V> AgedMap<K, V> {
    pub(crate) fn new(max_entries: usize, max_bytes: usize, max_age: Duration) -> Self {
        Self { map: HashMap::new(), ages: BTreeMap::new(), next: 0, bytes: 0, max_entries, max_bytes, max_age }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn fresh(&self, slot: &Slot<V>, now: Instant) -> bool {
        now.saturating_duration_since(slot.stored) < self.max_age
    }

    /// The live value of `k`.
    pub(crate) fn get(&self, k: &K, now: Instant) -> Option<&V> {
        self.map.get(k).filter(|s| self.fresh(s, now)).map(|s| &s.value)
    }

    /// The value of `k`, live or not (for in-place updates after a [`AgedMap::get`]).
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k).map(|s| &mut s.value)
    }

    /// Insertion order of `k` (smaller = older), for choosing a victim among a subset.
    pub(crate) fn order(&self, k: &K) -> Option<u64> {
        self.map.get(k).map(|s| s.order)
    }

    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let slot = self.map.remove(k)?;
        self.ages.remove(&slot.order);
        self.bytes -= slot.size;
        Some(slot.value)
    }

    /// Inserts (or replaces) `k`; returns the entries evicted to make room (oldest first) and
    /// the replaced value, if any. An entry larger than the byte bound alone is not stored and
    /// is returned as evicted.
    pub(crate) fn insert(&mut self, k: K, value: V, size: usize, now: Instant) -> (Vec<(K, V)>, Option<V>) {
        let replaced = self.remove(&k);
        if size > self.max_bytes || self.max_entries == 0 {
            return (vec![(k, value)], replaced);
        }
        let mut evicted = self.expire(now);
        while self.map.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            match self.pop_oldest() {
                Some(e) => evicted.push(e),
                None => break,
            }
        }
        let order = self.next;
        self.next += 1;
        self.ages.insert(order, k.clone());
        self.bytes += size;
        self.map.insert(k, Slot { value, size, order, stored: now });
        (evicted, replaced)
    }

    fn pop_oldest(&mut self) -> Option<(K, V)> {
        let (_, k) = self.ages.pop_first()?;
        let slot = self.map.remove(&k)?;
        self.bytes -= slot.size;
        Some((k, slot.value))
    }

    /// Removes every expired entry; returns them. Amortised O(expired · log n).
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(K, V)> {
        let mut out = Vec::new();
        while let Some((_, k)) = self.ages.first_key_value() {
            match self.map.get(k) {
                Some(slot) if self.fresh(slot, now) => break,
                _ => {}
            }
            if let Some(e) = self.pop_oldest() {
                out.push(e);
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bounds_and_expiry() {
        let t0 = Instant::now();
        let mut m = AgedMap::new(3, 100, Duration::from_secs(10));
        for i in 0..5u32 {
            m.insert(i, i, 10, t0);
        }
        assert_eq!(m.len(), 3);
        assert!(m.get(&0, t0).is_none() && m.get(&4, t0).is_some());
        let (evicted, _) = m.insert(9, 9, 95, t0);
        assert_eq!(evicted.len(), 3, "bytes bound evicts");
        assert_eq!(m.bytes(), 95);
        assert!(m.get(&9, t0 + Duration::from_secs(11)).is_none());
        assert_eq!(m.expire(t0 + Duration::from_secs(11)).len(), 1);
        assert_eq!((m.len(), m.bytes()), (0, 0));
        assert_eq!(m.insert(1, 1, 101, t0).0.len(), 1, "too big alone");
        assert_eq!(m.len(), 0);
    }

    proptest! {
        #[test]
        fn never_exceeds_bounds(ops in proptest::collection::vec((0u8..20, 0usize..40, 0u64..30, any::<bool>()), 0..200)) {
            let t0 = Instant::now();
            let mut m = AgedMap::new(8, 100, Duration::from_secs(10));
            for (k, size, t, del) in ops {
                let now = t0 + Duration::from_secs(t);
                if del { m.remove(&k); } else { m.insert(k, (), size, now); }
                prop_assert!(m.len() <= 8 && m.bytes() <= 100);
                prop_assert_eq!(m.map.len(), m.ages.len());
                prop_assert_eq!(m.bytes, m.map.values().map(|s| s.size).sum::<usize>());
            }
        }
    }
}
