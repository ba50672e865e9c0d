//! The routing table: 256 k-buckets around our key, each with a replacement cache.
//!
//! Sans-IO: every method that depends on time takes `now`. A full bucket does not
//! evict on its own; the newcomer waits in the bucket's replacement cache and the
//! caller is told which entry is the oldest (to check it). When an entry fails
//! ([`Table::remove`]) the most recently seen replacement takes its place.

use std::time::{Duration, Instant};

use rhizome_node::{Multiaddr, PeerId};

use crate::key::{Distance, Key};

/// Addresses remembered per table entry.
pub const MAX_ENTRY_ADDRS: usize = 8;
/// Consecutive failures after which an entry goes even with no replacement waiting.
pub const MAX_FAILURES: u32 = 5;

/// One known Kademlia server.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The peer.
    pub peer: PeerId,
    /// Its keyspace point.
    pub key: Key,
    /// Its addresses (at most [`MAX_ENTRY_ADDRS`]).
    pub addrs: Vec<Multiaddr>,
    /// When it last answered us or was otherwise confirmed.
    pub last_seen: Instant,
    /// Requests that failed since it last answered.
    pub failures: u32,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Least recently seen first.
    entries: Vec<Entry>,
    /// Most recently seen last; at most `k`.
    replacements: Vec<Entry>,
    last_refreshed: Option<Instant>,
}

/// What [`Table::insert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertOutcome {
    /// A new entry.
    Inserted,
    /// An existing entry was refreshed (moved to most recently seen).
    Updated,
    /// The bucket is full: the peer waits in the replacement cache. `oldest` is the
    /// least recently seen entry, worth checking.
    Pending {
        /// The bucket's least recently seen entry.
        oldest: PeerId,
    },
    /// Our own id.
    SelfEntry,
}

/// The routing table (`kad::Table`).
#[derive(Debug)]
pub struct Table {
    local: Key,
    k: usize,
    buckets: Vec<Bucket>,
    len: usize,
}

impl Table {
    /// An empty table around `local` with buckets of `k` entries (and `k` replacements).
    pub fn new(local: Key, k: usize) -> Self {
        Self { local, k: k.max(1), buckets: (0..256).map(|_| Bucket::default()).collect(), len: 0 }
    }

    /// Our key.
    pub fn local_key(&self) -> Key {
        self.local
    }

    /// The bucket size.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Entries in the table (replacements not counted).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn bucket_of(&self, key: &Key) -> Option<usize> {
        self.local.distance(key).bucket_index()
    }

    /// Adds `peer` (or refreshes it) as seen at `now`, merging `addrs`.
    pub fn insert(&mut self, peer: PeerId, addrs: &[Multiaddr], now: Instant) -> InsertOutcome {
        let key = Key::from_peer(&peer);
        let Some(index) = self.bucket_of(&key) else {
            return InsertOutcome::SelfEntry;
        };
        let k = self.k;
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.entries.iter().position(|e| e.peer == peer) {
            let mut entry = bucket.entries.remove(pos);
            merge_addrs(&mut entry.addrs, addrs);
            entry.last_seen = now;
            entry.failures = 0;
            bucket.entries.push(entry);
            return InsertOutcome::Updated;
        }
        let mut entry = Entry { peer, key, addrs: Vec::new(), last_seen: now, failures: 0 };
        merge_addrs(&mut entry.addrs, addrs);
        if bucket.entries.len() < k {
            bucket.entries.push(entry);
            self.len += 1;
            return InsertOutcome::Inserted;
        }
        if let Some(pos) = bucket.replacements.iter().position(|e| e.peer == peer) {
            let old = bucket.replacements.remove(pos);
            merge_addrs(&mut entry.addrs, &old.addrs);
        } else if bucket.replacements.len() >= k {
            bucket.replacements.remove(0);
        }
        bucket.replacements.push(entry);
        let oldest = bucket.entries[0].peer;
        InsertOutcome::Pending { oldest }
    }

    /// Removes `peer` (it failed to answer); the most recently seen replacement of
    /// its bucket takes its place. Returns whether it was an entry.
    pub fn remove(&mut self, peer: &PeerId) -> bool {
        let key = Key::from_peer(peer);
        let Some(index) = self.bucket_of(&key) else {
            return false;
        };
        let bucket = &mut self.buckets[index];
        bucket.replacements.retain(|e| &e.peer != peer);
        let Some(pos) = bucket.entries.iter().position(|e| &e.peer == peer) else {
            return false;
        };
        bucket.entries.remove(pos);
        match bucket.replacements.pop() {
            Some(promoted) => bucket.entries.push(promoted),
            None => self.len -= 1,
        }
        true
    }

    /// A request to `peer` failed. The entry goes if its bucket has a replacement
    /// waiting or after [`MAX_FAILURES`] failures in a row; otherwise it stays (a
    /// transient failure must not drain the table). Returns whether it went.
    pub fn on_failure(&mut self, peer: &PeerId) -> bool {
        let Some(index) = self.bucket_of(&Key::from_peer(peer)) else {
            return false;
        };
        let bucket = &mut self.buckets[index];
        let Some(entry) = bucket.entries.iter_mut().find(|e| &e.peer == peer) else {
            return false;
        };
        entry.failures += 1;
        if entry.failures >= MAX_FAILURES || !bucket.replacements.is_empty() {
            return self.remove(peer);
        }
        false
    }

    /// The entry for `peer`.
    pub fn get(&self, peer: &PeerId) -> Option<&Entry> {
        let index = self.bucket_of(&Key::from_peer(peer))?;
        self.buckets[index].entries.iter().find(|e| &e.peer == peer)
    }

    /// Whether `peer` is an entry.
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.get(peer).is_some()
    }

    /// All entries, bucket by bucket.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The `n` entries closest to `target`, closest first.
    pub fn closest(&self, target: &Key, n: usize) -> Vec<&Entry> {
        let mut all: Vec<(Distance, &Entry)> = self.iter().map(|e| (e.key.distance(target), e)).collect();
        if all.len() > n && n > 0 {
            all.select_nth_unstable_by(n - 1, |a, b| a.0.cmp(&b.0));
            all.truncate(n);
        }
        all.sort_unstable_by_key(|a| a.0);
        all.into_iter().take(n).map(|(_, e)| e).collect()
    }

    /// Marks the bucket holding keys like `target` as refreshed at `now` (a lookup
    /// for a key in it ran).
    pub fn mark_refreshed(&mut self, target: &Key, now: Instant) {
        if let Some(i) = self.bucket_of(target) {
            self.buckets[i].last_refreshed = Some(now);
        }
    }

    /// Non-empty buckets not refreshed for `interval`, plus the first empty bucket
    /// below the closest non-empty one (where new neighbours would land).
    pub fn buckets_to_refresh(&self, now: Instant, interval: Duration) -> Vec<usize> {
        let stale = |b: &Bucket| b.last_refreshed.is_none_or(|t| now.saturating_duration_since(t) >= interval);
        let mut out: Vec<usize> =
            self.buckets.iter().enumerate().filter(|(_, b)| !b.entries.is_empty() && stale(b)).map(|(i, _)| i).collect();
        if let Some(lowest) = self.buckets.iter().position(|b| !b.entries.is_empty())
            && lowest > 0
            && stale(&self.buckets[lowest - 1])
        {
            out.push(lowest - 1);
        }
        out
    }

    /// Entries per bucket index, for non-empty buckets.
    pub fn bucket_sizes(&self) -> Vec<(usize, usize)> {
        self.buckets.iter().enumerate().filter(|(_, b)| !b.entries.is_empty()).map(|(i, b)| (i, b.entries.len())).collect()
    }

    /// A rough count of heap bytes held (entries and replacements, with addresses).
    pub fn heap_estimate(&self) -> usize {
        let entry = std::mem::size_of::<Entry>();
        let addr_bytes = |e: &Entry| e.addrs.iter().map(|a| a.len() + 24).sum::<usize>();
        self.buckets
            .iter()
            .map(|b| {
                (b.entries.capacity() + b.replacements.capacity()) * entry
                    + b.entries.iter().chain(&b.replacements).map(addr_bytes).sum::<usize>()
            })
            .sum::<usize>()
            + self.buckets.capacity() * std::mem::size_of::<Bucket>()
    }
}

/// Adds `new` addresses not yet in `addrs`, newest first, keeping [`MAX_ENTRY_ADDRS`].
fn merge_addrs(addrs: &mut Vec<Multiaddr>, new: &[Multiaddr]) {
    for a in new.iter().rev() {
        if let Some(pos) = addrs.iter().position(|x| x == a) {
            addrs.remove(pos);
        }
        addrs.insert(0, a.clone());
    }
    addrs.truncate(MAX_ENTRY_ADDRS);
}

#[cfg(test)]
mod tests;
