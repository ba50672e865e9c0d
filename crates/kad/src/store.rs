//! The bounded record and provider store, with TTLs and republishing schedules.
//!
//! Sans-IO: every method that depends on time takes `now`. Every map is bounded
//! ([`StoreConfig`]); a write over a limit is a [`StoreError`], never an eviction of
//! something we published.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rhizome_node::PeerId;

use crate::message::{Peer, Record};

/// Store limits and lifetimes (`kad::StoreConfig`).
///
/// | setting | default |
/// |---|---|
/// | `max_records` | 1024 |
/// | `max_key_size` | 1024 bytes |
/// | `max_value_size` | 64 KiB |
/// | `max_records_per_peer` | 128 (records one remote peer may have stored with us) |
/// | `max_provider_keys` | 1024 (keys with remote providers) |
/// | `max_provided_per_peer` | 128 (keys one remote peer may provide through us) |
/// | `max_providers_per_key` | 20 |
/// | `max_provided_keys` | 1024 (keys we provide) |
/// | `record_ttl` | 48 h |
/// | `provider_ttl` | 48 h |
/// | `publication_interval` | 24 h (we re-put records we published) |
/// | `replication_interval` | 1 h (we re-put records others stored with us) |
/// | `provider_publication_interval` | 22 h (we re-announce keys we provide) |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Records held at most.
    pub max_records: usize,
    /// Largest record (and provider) key.
    pub max_key_size: usize,
    /// Largest record value.
    pub max_value_size: usize,
    /// Records one remote peer may have stored with us at most.
    pub max_records_per_peer: usize,
    /// Keys with remote providers held at most.
    pub max_provider_keys: usize,
    /// Providers remembered per key.
    pub max_providers_per_key: usize,
    /// Keys one remote peer may be remembered as a provider of at most.
    pub max_provided_per_peer: usize,
    /// Keys we provide at most.
    pub max_provided_keys: usize,
    /// Lifetime of a stored record (a sender's shorter TTL wins).
    pub record_ttl: Duration,
    /// Lifetime of a provider record.
    pub provider_ttl: Duration,
    /// How often the publisher re-puts its records.
    pub publication_interval: Duration,
    /// How often other holders re-put records they hold.
    pub replication_interval: Duration,
    /// How often we re-announce keys we provide.
    pub provider_publication_interval: Duration,
}

const HOUR: u64 = 3600;

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_records: 1024,
            max_key_size: 1024,
            max_value_size: 64 * 1024,
            max_records_per_peer: 128,
            max_provider_keys: 1024,
            max_providers_per_key: 20,
            max_provided_per_peer: 128,
            max_provided_keys: 1024,
            record_ttl: Duration::from_secs(48 * HOUR),
            provider_ttl: Duration::from_secs(48 * HOUR),
            publication_interval: Duration::from_secs(24 * HOUR),
            replication_interval: Duration::from_secs(HOUR),
            provider_publication_interval: Duration::from_secs(22 * HOUR),
        }
    }
}

/// A write the store refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store holds `max_records` (or `max_provider_keys`, `max_provided_keys`).
    #[error("store full ({0} entries)")]
    Full(usize),
    /// The key is over `max_key_size`.
    #[error("key of {0} bytes is too long")]
    KeyTooLong(usize),
    /// The value is over `max_value_size`.
    #[error("value of {0} bytes is too large")]
    ValueTooLarge(usize),
    /// This peer has stored `max_records_per_peer` records with us.
    #[error("peer {0} stored too many records")]
    PeerQuota(PeerId),
    /// The key already has `max_providers_per_key` providers.
    #[error("too many providers for this key")]
    TooManyProviders,
}

/// Who is writing a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// We publish it.
    Local,
    /// A remote peer sent it (PUT_VALUE).
    Remote(PeerId),
}

/// A stored record and its bookkeeping.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    /// The record (`publisher` set when known).
    pub record: Record,
    /// When it expires.
    pub expires: Instant,
    /// Who stored it with us.
    pub source: Source,
    /// When we re-put it next.
    pub next_republish: Instant,
}

#[derive(Debug, Clone)]
struct Provider {
    peer: Peer,
    expires: Instant,
}

/// Counters of the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Records held.
    pub records: usize,
    /// Keys with remote providers.
    pub provider_keys: usize,
    /// Provider entries over all keys.
    pub providers: usize,
    /// Keys we provide.
    pub provided_keys: usize,
    /// Bytes of keys and values held.
    pub record_bytes: usize,
}

/// The store (`kad::Store`).
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    records: HashMap<Vec<u8>, StoredRecord>,
    per_peer: HashMap<PeerId, usize>,
    providers: HashMap<Vec<u8>, Vec<Provider>>,
    /// Provider entries per remote peer.
    provider_counts: HashMap<PeerId, usize>,
    /// Keys we provide, with their next re-announce time.
    provided: HashMap<Vec<u8>, Instant>,
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        Self {
            config,
            records: HashMap::new(),
            per_peer: HashMap::new(),
            providers: HashMap::new(),
            provider_counts: HashMap::new(),
            provided: HashMap::new(),
        }
    }

    /// The limits.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn check_key(&self, key: &[u8]) -> Result<(), StoreError> {
        if key.len() > self.config.max_key_size { Err(StoreError::KeyTooLong(key.len())) } else { Ok(()) }
    }

    /// Stores `record` from `source`. A remote record lives for the shorter of its
    /// TTL and `record_ttl`; ours for `record_ttl`.
    pub fn put(&mut self, mut record: Record, source: Source, now: Instant) -> Result<(), StoreError> {
        self.check_key(&record.key)?;
        if record.value.len() > self.config.max_value_size {
            return Err(StoreError::ValueTooLarge(record.value.len()));
        }
        let existing = self.records.get(&record.key).map(|r| r.source);
        if existing == Some(Source::Local) && source != Source::Local {
            // We published this key: a remote copy does not take it over.
            return Ok(());
        }
        if existing.is_none() && self.records.len() >= self.config.max_records {
            return Err(StoreError::Full(self.config.max_records));
        }
        if let Source::Remote(peer) = source
            && existing != Some(source)
            && self.per_peer.get(&peer).copied().unwrap_or(0) >= self.config.max_records_per_peer
        {
            return Err(StoreError::PeerQuota(peer));
        }
        let (ttl, interval) = match source {
            Source::Local => (self.config.record_ttl, self.config.publication_interval),
            Source::Remote(_) => {
                (record.ttl.map_or(self.config.record_ttl, |t| t.min(self.config.record_ttl)), self.config.replication_interval)
            }
        };
        record.ttl = None;
        if let Some(Source::Remote(old)) = existing {
            self.uncount(&old);
        }
        if let Source::Remote(peer) = source {
            *self.per_peer.entry(peer).or_insert(0) += 1;
        }
        let stored = StoredRecord { record, expires: now + ttl, source, next_republish: now + interval };
        self.records.insert(stored.record.key.clone(), stored);
        Ok(())
    }

    fn uncount(&mut self, peer: &PeerId) {
        uncount(&mut self.per_peer, peer);
    }

    /// The unexpired record under `key`, its `ttl` set to the time it has left.
    pub fn get(&self, key: &[u8], now: Instant) -> Option<Record> {
        let stored = self.records.get(key).filter(|r| r.expires > now)?;
        let mut record = stored.record.clone();
        record.ttl = Some(stored.expires.saturating_duration_since(now).max(Duration::from_secs(1)));
        Some(record)
    }

    /// The stored record with its bookkeeping.
    pub fn get_stored(&self, key: &[u8]) -> Option<&StoredRecord> {
        self.records.get(key)
    }

    /// Forgets the record under `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<Record> {
        let stored = self.records.remove(key)?;
        if let Source::Remote(peer) = stored.source {
            self.uncount(&peer);
        }
        Some(stored.record)
    }

    /// Remembers `provider` for `key`. A known provider is refreshed.
    pub fn add_provider(&mut self, key: &[u8], provider: Peer, now: Instant) -> Result<(), StoreError> {
        self.check_key(key)?;
        let expires = now + self.config.provider_ttl;
        if !self.providers.contains_key(key) && self.providers.len() >= self.config.max_provider_keys {
            return Err(StoreError::Full(self.config.max_provider_keys));
        }
        let counts = &mut self.provider_counts;
        let list = self.providers.entry(key.to_vec()).or_default();
        list.retain(|p| {
            let live = p.expires > now;
            if !live {
                uncount(counts, &p.peer.id);
            }
            live
        });
        if let Some(p) = list.iter_mut().find(|p| p.peer.id == provider.id) {
            p.expires = expires;
            if !provider.addrs.is_empty() {
                p.peer.addrs = provider.addrs;
            }
            return Ok(());
        }
        let result = if list.len() >= self.config.max_providers_per_key {
            Err(StoreError::TooManyProviders)
        } else if counts.get(&provider.id).copied().unwrap_or(0) >= self.config.max_provided_per_peer {
            Err(StoreError::PeerQuota(provider.id))
        } else {
            *counts.entry(provider.id).or_insert(0) += 1;
            list.push(Provider { peer: provider, expires });
            Ok(())
        };
        if list.is_empty() {
            self.providers.remove(key);
        }
        result
    }

    /// Unexpired remote providers of `key`.
    pub fn providers(&self, key: &[u8], now: Instant) -> Vec<Peer> {
        self.providers.get(key).map(|l| l.iter().filter(|p| p.expires > now).map(|p| p.peer.clone()).collect()).unwrap_or_default()
    }

    /// Records that we provide `key`; its first announcement is due at once.
    pub fn start_providing(&mut self, key: &[u8], now: Instant) -> Result<(), StoreError> {
        self.check_key(key)?;
        if !self.provided.contains_key(key) && self.provided.len() >= self.config.max_provided_keys {
            return Err(StoreError::Full(self.config.max_provided_keys));
        }
        self.provided.insert(key.to_vec(), now + self.config.provider_publication_interval);
        Ok(())
    }

    /// Stops providing `key`; returns whether we did.
    pub fn stop_providing(&mut self, key: &[u8]) -> bool {
        self.provided.remove(key).is_some()
    }

    /// Whether we provide `key`.
    pub fn is_providing(&self, key: &[u8]) -> bool {
        self.provided.contains_key(key)
    }

    /// Drops expired records and providers; returns how many went.
    pub fn expire(&mut self, now: Instant) -> usize {
        let gone: Vec<Vec<u8>> = self.records.iter().filter(|(_, r)| r.expires <= now).map(|(k, _)| k.clone()).collect();
        let mut n = gone.len();
        for key in gone {
            self.remove(&key);
        }
        let counts = &mut self.provider_counts;
        self.providers.retain(|_, list| {
            list.retain(|p| {
                let live = p.expires > now;
                if !live {
                    uncount(counts, &p.peer.id);
                    n += 1;
                }
                live
            });
            !list.is_empty()
        });
        n
    }

    /// Records due for republishing at `now` (ours every `publication_interval`,
    /// others' every `replication_interval`), each rescheduled. Ours come back with
    /// a fresh expiry. At most `limit`; the rest stay due.
    pub fn due_republish(&mut self, now: Instant, limit: usize) -> Vec<(Record, Source)> {
        let mut out = Vec::new();
        for stored in self.records.values_mut().filter(|r| r.next_republish <= now && r.expires > now).take(limit) {
            let (interval, remaining) = match stored.source {
                Source::Local => {
                    stored.expires = now + self.config.record_ttl;
                    (self.config.publication_interval, self.config.record_ttl)
                }
                Source::Remote(_) => (self.config.replication_interval, stored.expires.saturating_duration_since(now)),
            };
            stored.next_republish = now + interval;
            let mut record = stored.record.clone();
            record.ttl = Some(remaining.max(Duration::from_secs(1)));
            out.push((record, stored.source));
        }
        out
    }

    /// Keys we provide whose re-announcement is due at `now`, each rescheduled. At
    /// most `limit`; the rest stay due.
    pub fn due_reprovide(&mut self, now: Instant, limit: usize) -> Vec<Vec<u8>> {
        let interval = self.config.provider_publication_interval;
        self.provided
            .iter_mut()
            .filter(|(_, next)| **next <= now)
            .take(limit)
            .map(|(k, next)| {
                *next = now + interval;
                k.clone()
            })
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.records.len(),
            provider_keys: self.providers.len(),
            providers: self.providers.values().map(Vec::len).sum(),
            provided_keys: self.provided.len(),
            record_bytes: self.records.values().map(|r| r.record.key.len() + r.record.value.len()).sum(),
        }
    }
}

/// Decrements `peer`'s count, forgetting it at zero.
fn uncount(counts: &mut HashMap<PeerId, usize>, peer: &PeerId) {
    if let Some(n) = counts.get_mut(peer) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            counts.remove(peer);
        }
    }
}

/// The TTL of a cached copy: the record's lifetime halved for every bit by which
/// the caching peer is farther from the key than the closest peer that returned
/// the value (`b = bucket(cache, key) − bucket(holder, key)`, at least 0):
/// `ttl = clamp(record_ttl / 2^b, min_ttl, record_ttl)`. See `specs/kad.md`.
pub fn cache_ttl(record_ttl: Duration, min_ttl: Duration, cache_bucket: usize, holder_bucket: usize) -> Duration {
    let bits = cache_bucket.saturating_sub(holder_bucket).min(63) as u32;
    let ttl = Duration::from_nanos((record_ttl.as_nanos() >> bits).min(u128::from(u64::MAX)) as u64);
    ttl.max(min_ttl.min(record_ttl))
}

#[cfg(test)]
mod tests;
