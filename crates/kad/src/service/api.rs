//! The public operations: lookups, records, providers.

use std::collections::HashMap;

use futures::future::join_all;
use rhizome_node::{Multiaddr, PeerId};
use tracing::debug;

use super::lookup::Flow;
use super::{Kademlia, now};
use crate::error::{PutError, QueryError};
use crate::event::QueryKind;
use crate::key::Key;
use crate::message::{Peer, Record, Request, Response};
use crate::store::{Source, cache_ttl};

/// How many peers must confirm a `put_value` (`kad::Quorum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    /// One peer.
    One,
    /// More than half of the closest peers found.
    Majority,
    /// All the closest peers found.
    All,
    /// This many peers.
    N(usize),
}

impl Quorum {
    fn of(self, found: usize) -> usize {
        match self {
            Quorum::One => 1,
            Quorum::Majority => found / 2 + 1,
            Quorum::All => found.max(1),
            Quorum::N(n) => n,
        }
    }
}

/// Random keys hashed at most to find one in a given bucket (≈ 2^16 SHA-256s).
const REFRESH_KEY_TRIES: usize = 1 << 16;
/// Providers returned by `find_providers` at most.
const MAX_PROVIDERS_FOUND: usize = 64;

impl Kademlia {
    /// The addresses of `peer`, found through the DHT.
    pub async fn find_node(&self, peer: PeerId) -> Result<Vec<Multiaddr>, QueryError> {
        if let Some(e) = self.inner.core().table.get(&peer).filter(|e| !e.addrs.is_empty()) {
            return Ok(e.addrs.clone());
        }
        let mut found = Vec::new();
        let request = Request::FindNode { key: peer.to_bytes() };
        self.lookup(QueryKind::FindNode, Key::from_peer(&peer), request, |from, response| {
            if from == peer {
                return Flow::Stop;
            }
            match super::lookup::closer_of(response).iter().find(|p| p.id == peer && !p.addrs.is_empty()) {
                Some(p) => {
                    found = p.addrs.clone();
                    Flow::Stop
                }
                None => Flow::Continue,
            }
        })
        .await?;
        if found.is_empty() {
            found = self.inner.node().map(|n| n.address_book().get(&peer)).unwrap_or_default();
        }
        if found.is_empty() { Err(QueryError::NotFound) } else { Ok(found) }
    }

    /// The (up to k) peers closest to `key` that answered, closest first.
    pub async fn get_closest_peers(&self, key: impl AsRef<[u8]>) -> Result<Vec<PeerId>, QueryError> {
        let key = key.as_ref().to_vec();
        let target = Key::from_bytes(&key);
        let outcome = self.lookup(QueryKind::GetClosestPeers, target, Request::FindNode { key }, |_, _| Flow::Continue).await?;
        Ok(outcome.closest)
    }

    /// Looks up our own id, then a random key in each bucket not refreshed lately
    /// (all of them the first time). Configured bootstrap peers are dialed and checked
    /// first. Returns the routing table's size.
    pub async fn bootstrap(&self) -> Result<usize, QueryError> {
        let node = self.inner.node().ok_or(QueryError::NodeGone)?;
        for addr in &self.inner.config.bootstrap_peers {
            match node.dial(addr.clone()).await {
                Ok(peer) => self.probe(peer).await,
                Err(e) => debug!(%addr, error = %e, "bootstrap peer unreachable"),
            }
        }
        drop(node);
        let local = self.inner.local.to_bytes();
        self.lookup(QueryKind::Bootstrap, Key::from_bytes(&local), Request::FindNode { key: local }, |_, _| Flow::Continue).await?;
        self.refresh_buckets(std::time::Duration::ZERO).await;
        Ok(self.inner.core().table.len())
    }

    /// Refreshes (with a lookup of a random key in it) each bucket not refreshed for
    /// `interval`, at most 16 per call.
    pub(crate) async fn refresh_buckets(&self, interval: std::time::Duration) {
        let (local, buckets) = {
            let core = self.inner.core();
            (core.table.local_key(), core.table.buckets_to_refresh(now(), interval))
        };
        for bucket in buckets.into_iter().rev().take(16) {
            let (key, hashed) = crate::key::random_key_in_bucket(&local, bucket, rand::random, REFRESH_KEY_TRIES);
            let request = Request::FindNode { key };
            let _ = self.lookup(QueryKind::Bootstrap, hashed, request, |_, _| Flow::Continue).await;
        }
    }

    /// Validates and stores `value` under `key` locally (as its publisher), then on
    /// the closest peers; succeeds once `quorum` of them confirmed.
    pub async fn put_value(&self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>, quorum: Quorum) -> Result<usize, PutError> {
        let mut record = Record::new(key, value);
        self.inner.config.validator.validate(&record.key, &record.value)?;
        record.publisher = Some(self.inner.local);
        self.inner.core().store.put(record.clone(), Source::Local, now())?;
        record.ttl = Some(self.inner.config.store.record_ttl);
        self.replicate(record, quorum).await
    }

    /// Sends `record` to the closest peers of its key; returns how many confirmed.
    pub(crate) async fn replicate(&self, record: Record, quorum: Quorum) -> Result<usize, PutError> {
        let closest = self.get_closest_peers(&record.key).await?;
        let needed = quorum.of(closest.len());
        let request = Request::PutValue { record: record.clone() };
        let answers = join_all(closest.iter().map(|p| self.request(*p, &request))).await;
        let got = answers
            .into_iter()
            .filter(|a| matches!(a, Ok(Some(Response::PutValue { record: Some(r), .. })) if r.key == record.key && r.value == record.value))
            .count();
        if got < needed { Err(PutError::Quorum { needed, got }) } else { Ok(got) }
    }

    /// The record under `key`: ours if we hold one, else the first valid one a
    /// lookup finds. A copy is then cached at the closest peer on the path that
    /// lacked it, with a TTL that shrinks with its distance from the key.
    pub async fn get_value(&self, key: impl Into<Vec<u8>>) -> Result<Record, QueryError> {
        self.get_value_quorum(key, 1).await
    }

    /// Like [`Kademlia::get_value`], but collects up to `quorum` valid records (ours
    /// counts as one), keeps the one the validator selects, and corrects the peers
    /// that returned another value with a PUT_VALUE of it.
    pub async fn get_value_quorum(&self, key: impl Into<Vec<u8>>, quorum: usize) -> Result<Record, QueryError> {
        let key = key.into();
        let local = self.inner.core().store.get(&key, now());
        let quorum = quorum.max(1);
        if let Some(r) = local.as_ref().filter(|_| quorum == 1) {
            return Ok(r.clone());
        }
        let target = Key::from_bytes(&key);
        let validator = self.inner.config.validator.clone();
        let mut found: Vec<(PeerId, Record)> = Vec::new();
        let mut lacking = Vec::new();
        let wanted = quorum - usize::from(local.is_some());
        let request = Request::GetValue { key: key.clone() };
        let lookup = self
            .lookup(QueryKind::GetValue, target, request, |from, response| {
                if let Response::GetValue { record, .. } = response {
                    match record.as_ref().filter(|r| r.key == key && validator.validate(&r.key, &r.value).is_ok()) {
                        Some(r) => found.push((from, r.clone())),
                        None => lacking.push(from),
                    }
                }
                if found.len() >= wanted { Flow::Stop } else { Flow::Continue }
            })
            .await;
        match lookup {
            Err(QueryError::NoPeers) if local.is_some() => {}
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let mut candidates: Vec<&Record> = found.iter().map(|(_, r)| r).collect();
        candidates.extend(local.as_ref());
        let values: Vec<&[u8]> = candidates.iter().map(|r| r.value.as_slice()).collect();
        let best = match values.len() {
            0 => return Err(QueryError::NotFound),
            n => candidates[validator.select(&key, &values).min(n - 1)].clone(),
        };
        let stale: Vec<PeerId> = found.iter().filter(|(_, r)| r.value != best.value).map(|(p, _)| *p).collect();
        if !stale.is_empty() {
            let mut fixed = best.clone();
            fixed.ttl = best.ttl.or(Some(self.inner.config.store.record_ttl));
            let request = Request::PutValue { record: fixed };
            join_all(stale.iter().map(|p| self.request(*p, &request))).await;
        }
        if self.inner.config.cache_on_lookup
            && let Some((holder, _)) = found.iter().find(|(_, r)| r.value == best.value)
        {
            self.cache(&target, *holder, &lacking, &best).await;
        }
        Ok(best)
    }

    /// Stores a cached copy at the closest peer of `lacking`.
    async fn cache(&self, target: &Key, holder: PeerId, lacking: &[PeerId], record: &Record) {
        let Some(peer) = lacking.iter().min_by_key(|p| Key::from_peer(p).distance(target)) else {
            return;
        };
        let bucket = |p: &PeerId| Key::from_peer(p).distance(target).bucket_index().unwrap_or(0);
        let ttl = cache_ttl(self.inner.config.store.record_ttl, self.inner.config.min_cache_ttl, bucket(peer), bucket(&holder));
        let mut copy = record.clone();
        copy.ttl = Some(record.ttl.map_or(ttl, |t| t.min(ttl)));
        if let Err(e) = self.request(*peer, &Request::PutValue { record: copy }).await {
            debug!(%peer, error = %e, "caching the record failed");
        }
    }

    /// Announces that we provide `key` (a multihash) to the closest peers, and keeps
    /// re-announcing it. Returns how many peers were told.
    pub async fn start_providing(&self, key: impl Into<Vec<u8>>) -> Result<usize, PutError> {
        let key = key.into();
        self.inner.core().store.start_providing(&key, now())?;
        self.announce(key).await
    }

    /// Stops re-announcing `key`; returns whether we provided it.
    pub fn stop_providing(&self, key: &[u8]) -> bool {
        self.inner.core().store.stop_providing(key)
    }

    pub(crate) async fn announce(&self, key: Vec<u8>) -> Result<usize, PutError> {
        let node = self.inner.node().ok_or(QueryError::NodeGone)?;
        let me = Peer { id: self.inner.local, addrs: self.local_addrs(&node) };
        drop(node);
        let closest = self.get_closest_peers(&key).await?;
        let request = Request::AddProvider { key, providers: vec![me] };
        let sent = join_all(closest.iter().map(|p| self.request(*p, &request))).await;
        Ok(sent.iter().filter(|r| r.is_ok()).count())
    }

    /// Providers of `key`: those we know, plus those a lookup finds (their addresses
    /// go into the address book).
    pub async fn find_providers(&self, key: impl Into<Vec<u8>>) -> Result<Vec<Peer>, QueryError> {
        let key = key.into();
        let mut found: HashMap<PeerId, Peer> = HashMap::new();
        for p in self.inner.core().store.providers(&key, now()) {
            found.insert(p.id, p);
        }
        let request = Request::GetProviders { key: key.clone() };
        let lookup = self
            .lookup(QueryKind::GetProviders, Key::from_bytes(&key), request, |_, response| {
                if let Response::GetProviders { providers, .. } = response {
                    for p in providers {
                        if found.len() < MAX_PROVIDERS_FOUND {
                            found.entry(p.id).or_insert_with(|| p.clone());
                        }
                    }
                }
                Flow::Continue
            })
            .await;
        match lookup {
            Err(QueryError::NoPeers) if !found.is_empty() => {}
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        let providers: Vec<Peer> = found.into_values().collect();
        self.learn(&providers);
        Ok(providers)
    }
}
