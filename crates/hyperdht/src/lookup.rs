//! Client reads: [`Dht::lookup`] (peers announced on a topic) and [`Dht::find_peer`]
//! (the relays of a listening server), as `hyperdht/index.js` runs them.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddrV4;

use crate::node::{Dht, DhtError, QueryHandle};
use crate::peer::blake2b_256;
use crate::query::Reply;
use crate::wire::ns::command;
use crate::wire::records::{LookupReply, PeerRecord};

/// Distinct public keys one [`Lookup`] remembers; records of further keys are dropped.
pub const MAX_LOOKUP_KEYS: usize = 4096;
/// Relays [`Dht::find_peer`] returns at most.
pub const MAX_FIND_PEER_RELAYS: usize = 16;

/// A running LOOKUP query: peer records as replies arrive, each public key once.
#[derive(Debug)]
pub struct Lookup {
    query: QueryHandle,
    seen: HashSet<[u8; 32]>,
    ready: VecDeque<PeerRecord>,
}

impl Lookup {
    /// The next peer not seen before; `None` once the query has finished.
    pub async fn next(&mut self) -> Option<PeerRecord> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                return Some(r);
            }
            let reply = self.query.next().await?;
            self.take(&reply);
        }
    }

    /// Runs the query to its end and returns every peer not returned yet.
    pub async fn collect(mut self) -> Vec<PeerRecord> {
        let mut out = Vec::new();
        while let Some(r) = self.next().await {
            out.push(r);
        }
        out
    }

    fn take(&mut self, reply: &Reply) {
        let Some(value) = reply.value.as_deref() else { return };
        // a node sending garbage is skipped, as Node's mapLookup does
        let Ok(l) = LookupReply::decode(value) else { return };
        for p in l.peers {
            if self.seen.len() < MAX_LOOKUP_KEYS && self.seen.insert(p.public_key) {
                self.ready.push_back(p);
            }
        }
    }
}

impl Dht {
    /// Starts a LOOKUP query on `topic` (topics are raw 32 bytes, not hashed).
    pub async fn lookup(&self, topic: &[u8; 32]) -> Result<Lookup, DhtError> {
        let query = self.query(*topic, command::LOOKUP, None).await?;
        Ok(Lookup { query, seen: HashSet::new(), ready: VecDeque::new() })
    }

    /// FIND_PEER on `hash(public_key)`. `Some` when at least one node holds the server's
    /// router entry; `relay_addresses` are then the nodes that hold it (they forward
    /// handshakes), followed by the relays listed in the record, deduplicated.
    pub async fn find_peer(&self, public_key: &[u8; 32]) -> Result<Option<PeerRecord>, DhtError> {
        let target = blake2b_256(public_key);
        let mut q = self.query(target, command::FIND_PEER, None).await?;
        let mut holders: Vec<SocketAddrV4> = Vec::new();
        let mut listed: Vec<SocketAddrV4> = Vec::new();
        while let Some(reply) = q.next().await {
            let Some(rec) = reply.value.as_deref().and_then(|v| PeerRecord::decode(v).ok()) else { continue };
            if rec.public_key != *public_key {
                continue;
            }
            holders.push(reply.addr);
            listed.extend(rec.relay_addresses);
        }
        if holders.is_empty() {
            return Ok(None);
        }
        let mut relays: Vec<SocketAddrV4> = Vec::new();
        for a in holders.into_iter().chain(listed) {
            if !relays.contains(&a) && relays.len() < MAX_FIND_PEER_RELAYS {
                relays.push(a);
            }
        }
        Ok(Some(PeerRecord { public_key: *public_key, relay_addresses: relays }))
    }
}
