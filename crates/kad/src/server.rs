//! The sans-IO core of a node: its routing table and store, and how it answers each
//! request (`kad::Core`).

use std::sync::Arc;
use std::time::Instant;

use rhizome_node::{Multiaddr, PeerId};

use crate::key::Key;
use crate::message::{Peer, Request, Response};
use crate::store::{Source, Store, StoreConfig, StoreError};
use crate::table::Table;
use crate::validate::{ValidationError, Validator};

/// An inbound request we refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InboundError {
    /// The record failed validation.
    #[error("invalid record")]
    Invalid(#[source] ValidationError),
    /// The store refused it (full, too large, over the peer's quota).
    #[error("record not stored")]
    Store(#[source] StoreError),
    /// ADD_PROVIDER named no provider entry of the sender itself.
    #[error("ADD_PROVIDER without the sender's own entry")]
    ForeignProvider,
}

/// Counters of inbound requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundStats {
    /// Requests answered (or accepted, for ADD_PROVIDER).
    pub served: u64,
    /// Requests refused.
    pub refused: u64,
}

/// Routing table, store and validator of one node.
pub struct Core {
    local: PeerId,
    /// The routing table.
    pub table: Table,
    /// The record and provider store.
    pub store: Store,
    validator: Arc<dyn Validator>,
    stats: InboundStats,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core").field("local", &self.local).field("table", &self.table.len()).finish_non_exhaustive()
    }
}

impl Core {
    /// A core for `local` with buckets of `k`.
    pub fn new(local: PeerId, k: usize, store: StoreConfig, validator: Arc<dyn Validator>) -> Self {
        Self { local, table: Table::new(Key::from_peer(&local), k), store: Store::new(store), validator, stats: InboundStats::default() }
    }

    /// Our peer id.
    pub fn local(&self) -> PeerId {
        self.local
    }

    /// The validator.
    pub fn validator(&self) -> &Arc<dyn Validator> {
        &self.validator
    }

    /// Inbound counters.
    pub fn inbound_stats(&self) -> InboundStats {
        self.stats
    }

    /// The `k` known peers closest to `key` (raw key bytes), without `exclude`.
    pub fn closer_peers(&self, key: &[u8], exclude: &PeerId) -> Vec<Peer> {
        let target = Key::from_bytes(key);
        let k = self.table.k();
        self.table
            .closest(&target, k + 1)
            .into_iter()
            .filter(|e| &e.peer != exclude)
            .take(k)
            .map(|e| Peer { id: e.peer, addrs: e.addrs.clone() })
            .collect()
    }

    /// Answers `request` from `from`; `None` for ADD_PROVIDER (no response).
    /// `local_addrs` are ours, for GET_PROVIDERS answers naming us.
    pub fn handle_request(
        &mut self,
        from: &PeerId,
        request: Request,
        local_addrs: &[Multiaddr],
        now: Instant,
    ) -> Result<Option<Response>, InboundError> {
        let result = self.answer(from, request, local_addrs, now);
        match &result {
            Ok(_) => self.stats.served += 1,
            Err(_) => self.stats.refused += 1,
        }
        result
    }

    fn answer(
        &mut self,
        from: &PeerId,
        request: Request,
        local_addrs: &[Multiaddr],
        now: Instant,
    ) -> Result<Option<Response>, InboundError> {
        Ok(Some(match request {
            Request::Ping => Response::Ping,
            Request::FindNode { key } => Response::FindNode { closer: self.closer_peers(&key, from) },
            Request::GetValue { key } => Response::GetValue { record: self.store.get(&key, now), closer: self.closer_peers(&key, from) },
            Request::GetProviders { key } => {
                let mut providers = self.store.providers(&key, now);
                if self.store.is_providing(&key) {
                    providers.insert(0, Peer { id: self.local, addrs: local_addrs.to_vec() });
                }
                Response::GetProviders { providers, closer: self.closer_peers(&key, from) }
            }
            Request::PutValue { record } => {
                self.validator.validate(&record.key, &record.value).map_err(InboundError::Invalid)?;
                let echo = record.clone();
                let mut stored = record;
                stored.publisher = stored.publisher.or(Some(*from));
                self.store.put(stored, Source::Remote(*from), now).map_err(InboundError::Store)?;
                Response::PutValue { key: echo.key.clone(), record: Some(echo) }
            }
            Request::AddProvider { key, providers } => {
                let own = providers.into_iter().find(|p| &p.id == from).ok_or(InboundError::ForeignProvider)?;
                let addrs =
                    if own.addrs.is_empty() { self.table.get(from).map(|e| e.addrs.clone()).unwrap_or_default() } else { own.addrs };
                self.store.add_provider(&key, Peer { id: *from, addrs }, now).map_err(InboundError::Store)?;
                return Ok(None);
            }
        }))
    }
}

#[cfg(test)]
mod tests;
