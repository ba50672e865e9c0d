//! The storing side of hyperdht (Node's `lib/persistent.js` + the relay half of
//! `lib/router.js`), sans-IO: [`Store::handle`] turns one verified dht-rpc request into an
//! [`Action`]; the caller owns the socket and the clock.
//!
//! - ANNOUNCE / UNANNOUNCE (signature checked against our node id and the request token):
//!   topic records (at most [`Limits::max_per_topic`] per topic, [`Limits::record_max_age`]),
//!   or a router entry when the target is BLAKE2b-256(publicKey) (announce-self).
//! - LOOKUP (records + router record, bump), FIND_PEER (router record).
//! - MUTABLE_PUT / MUTABLE_GET (signature, seq ordering), IMMUTABLE_PUT / IMMUTABLE_GET (hash).
//! - PEER_HANDSHAKE / PEER_HOLEPUNCH relaying ([`relay`]).
//!
//! Every map is bounded (counts and bytes, see [`Limits`]); writes are rate limited per source
//! host and each host may hold at most [`Limits::max_per_source`] records, so a flood from one
//! address cannot fill the store. Bad signatures, bad hashes, malformed values and rate-limited
//! writes get no reply ([`Action::Ignore`]), as in Node.

mod aged;
mod announces;
pub mod relay;
mod serve;
mod values;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use crate::compact::Encoder;
use crate::message::Id;
use crate::wire::mutable::{self, MutablePut, MutableRecord, SEQ_REUSED, SEQ_TOO_LOW, hash};
use crate::wire::ns::{NS_ANNOUNCE, NS_UNANNOUNCE};
use crate::wire::records::{Announce, PeerRecord};
use announces::Announces;

pub use serve::{PersistentNode, ServeError, ServeHandle, serve};

/// hyperdht command ids (non-internal).
pub use crate::wire::ns::command;

/// A bump may be at most this far in the future (persistent.js `MAX_BUMP_DRIFT`).
pub const MAX_BUMP_DRIFT_MS: u64 = 60_000;
/// Relay addresses kept per announced record (Node trims to 3).
pub const MAX_RELAY_ADDRESSES: usize = 3;

/// Store bounds. The defaults follow hyperdht's caches (20 min records, 48 h values, 65 536
/// entries) with byte caps and per-source limits added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Topic records at most (all topics).
    pub max_records: usize,
    /// Bytes of topic records at most (encoding + a fixed per-record overhead).
    pub max_record_bytes: usize,
    /// Topics at most.
    pub max_topics: usize,
    /// Records per topic at most (a new key replaces the topic's oldest).
    pub max_per_topic: usize,
    /// Router entries (announce-self) at most.
    pub max_router_entries: usize,
    /// Age of records and router entries.
    pub record_max_age: Duration,
    /// Records + router entries one source host may hold.
    pub max_per_source: usize,
    /// Writes (announce, unannounce, puts) a source host may burst.
    pub writes_burst: u32,
    /// Writes per second a source host gets back.
    pub writes_per_sec: u32,
    /// Source hosts with a rate-limit bucket at most.
    pub max_sources: usize,
    /// Mutable values at most.
    pub max_mutables: usize,
    /// Immutable values at most.
    pub max_immutables: usize,
    /// Mutable + immutable values one source host may hold (each map).
    pub max_values_per_source: usize,
    /// Bytes of mutable + immutable values each at most.
    pub max_value_bytes: usize,
    /// Age of mutable and immutable values.
    pub value_max_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_records: 65_536,
            max_record_bytes: 16 << 20,
            max_topics: 32_768,
            max_per_topic: 20,
            max_router_entries: 16_384,
            record_max_age: Duration::from_secs(20 * 60),
            max_per_source: 1024,
            writes_burst: 256,
            writes_per_sec: 32,
            max_sources: 16_384,
            max_mutables: 32_768,
            max_immutables: 32_768,
            max_values_per_source: 1024,
            max_value_bytes: 32 << 20,
            value_max_age: Duration::from_secs(48 * 3600),
        }
    }
}

/// One request as the store sees it (the token, if any, has been verified by dht-rpc).
#[derive(Debug, Clone, Copy)]
pub struct StoreRequest<'a> {
    /// Sender's UDP address.
    pub from: SocketAddrV4,
    /// Transaction id.
    pub tid: u16,
    /// hyperdht command ([`command`]).
    pub command: u64,
    /// Target.
    pub target: Option<Id>,
    /// Verified write token.
    pub token: Option<Id>,
    /// Value.
    pub value: Option<&'a [u8]>,
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Reply as dht-rpc does (our id, a token, closer nodes), with `error` and `value`.
    Reply {
        /// Error code (0 ok).
        error: u64,
        /// Reply value.
        value: Option<Vec<u8>>,
    },
    /// Reply without token and closer nodes (ANNOUNCE / UNANNOUNCE acknowledgements).
    ReplyBare,
    /// No reply (bad signature, malformed, rate limited, not ours).
    Ignore,
    /// Send a request with the client's tid to `to` (relay); no reply to the sender.
    Forward {
        /// Destination (a router entry's address).
        to: SocketAddrV4,
        /// The client's tid.
        tid: u16,
        /// PEER_HANDSHAKE or PEER_HOLEPUNCH.
        command: u64,
        /// The server's target.
        target: Id,
        /// Re-encoded value (mode FROM_RELAY).
        value: Vec<u8>,
    },
    /// Send a response for `tid` to the client `to` (mode REPLY); no reply to the sender.
    Respond {
        /// The client.
        to: SocketAddrV4,
        /// The client's tid.
        tid: u16,
        /// Response value.
        value: Vec<u8>,
    },
}

/// Sizes of the store, for monitoring and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Topic records.
    pub records: usize,
    /// Bytes charged for topic records.
    pub record_bytes: usize,
    /// Topics.
    pub topics: usize,
    /// Router entries.
    pub router_entries: usize,
    /// Mutable values.
    pub mutables: usize,
    /// Immutable values.
    pub immutables: usize,
    /// Bytes of mutable + immutable values.
    pub value_bytes: usize,
    /// Forwarded handshakes/holepunches awaiting the server.
    pub pending_relays: usize,
    /// PEER_HANDSHAKEs forwarded to a server (since start).
    pub handshakes_forwarded: u64,
    /// Server handshake answers delivered to clients (since start).
    pub handshakes_answered: u64,
    /// PEER_HOLEPUNCHes forwarded to a server (since start).
    pub holepunches_forwarded: u64,
    /// Server holepunch answers delivered to clients (since start).
    pub holepunches_answered: u64,
}

/// The storing node's state.
#[derive(Debug)]
pub struct Store {
    id: Id,
    announces: Announces,
    relay: relay::Relay,
    mutables: values::Values,
    immutables: values::Values,
}

/// `lookupRawReply` from already-encoded peer records: `array(peer)`, then `bump`.
fn encode_lookup_reply(records: &[&[u8]], bump: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.array_len(records.len());
    for r in records {
        e.fixed(r);
    }
    e.uint(bump);
    e.finish()
}

impl Store {
    /// A store for the node whose id (BLAKE2b-256 of its ip:port) is `id`.
    pub fn new(id: Id, limits: Limits) -> Self {
        Self {
            id,
            announces: Announces::new(limits),
            relay: relay::Relay::new(),
            mutables: values::Values::new(limits.max_mutables, limits.max_value_bytes, limits.value_max_age, limits.max_values_per_source),
            immutables: values::Values::new(
                limits.max_immutables,
                limits.max_value_bytes,
                limits.value_max_age,
                limits.max_values_per_source,
            ),
        }
    }

    /// Current sizes.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            records: self.announces.record_count(),
            record_bytes: self.announces.record_bytes(),
            topics: self.announces.topic_count(),
            router_entries: self.announces.router_count(),
            mutables: self.mutables.len(),
            immutables: self.immutables.len(),
            value_bytes: self.mutables.bytes() + self.immutables.bytes(),
            pending_relays: self.relay.pending_count(),
            handshakes_forwarded: self.relay.forwarded[0],
            handshakes_answered: self.relay.answered[0],
            holepunches_forwarded: self.relay.forwarded[1],
            holepunches_answered: self.relay.answered[1],
        }
    }

    /// Drops everything that expired (call now and then; [`Store::handle`] also does).
    pub fn expire(&mut self, now: Instant) {
        self.announces.expire(now);
        self.relay.expire(now);
        self.mutables.expire(now);
        self.immutables.expire(now);
    }

    /// Handles one request. `now_unix_ms` is wall-clock time (for announce bumps only).
    pub fn handle(&mut self, req: StoreRequest<'_>, now: Instant, now_unix_ms: u64) -> Action {
        self.expire(now);
        let is_write = matches!(req.command, command::ANNOUNCE | command::UNANNOUNCE | command::MUTABLE_PUT | command::IMMUTABLE_PUT);
        // Writes need a target, a verified token and a value; only those cost rate tokens.
        if is_write && (req.target.is_none() || req.token.is_none() || req.value.is_none()) {
            return Action::Ignore;
        }
        if is_write && !self.announces.allow_write(*req.from.ip(), now) {
            return Action::Ignore;
        }
        match req.command {
            command::PEER_HANDSHAKE => self.relay.handshake(&mut self.announces, req.from, req.tid, req.target, req.value, now),
            command::PEER_HOLEPUNCH => self.relay.holepunch(&mut self.announces, req.from, req.tid, req.target, req.value, now),
            command::FIND_PEER => match req.target {
                Some(t) => Action::Reply { error: 0, value: self.announces.router(&t, now).map(|e| e.record.clone()) },
                None => Action::Ignore,
            },
            command::LOOKUP => self.lookup(req, now),
            command::ANNOUNCE => self.announce(req, now, now_unix_ms),
            command::UNANNOUNCE => self.unannounce(req, now),
            command::MUTABLE_PUT => self.mutable_put(req, now),
            command::MUTABLE_GET => self.mutable_get(req, now),
            command::IMMUTABLE_PUT => self.immutable_put(req, now),
            command::IMMUTABLE_GET => match req.target {
                Some(t) => Action::Reply { error: 0, value: self.immutables.get(&t, now).cloned() },
                None => Action::Ignore,
            },
            _ => Action::Reply { error: crate::message::error_code::UNKNOWN_COMMAND, value: None },
        }
    }

    fn lookup(&self, req: StoreRequest<'_>, now: Instant) -> Action {
        let Some(t) = req.target else {
            return Action::Ignore;
        };
        let (mut records, bump) = self.announces.lookup(&t, now);
        let router = self.announces.router(&t, now);
        if let Some(e) = router
            && records.len() < 20
        {
            records.push(&e.record);
        }
        let value = (!records.is_empty()).then(|| encode_lookup_reply(&records, bump));
        Action::Reply { error: 0, value }
    }

    /// Decodes and verifies an (un)announce; `None` means ignore.
    fn verified(&self, req: &StoreRequest<'_>, unannounce: bool) -> Option<(Id, Announce, PeerRecord)> {
        let (target, token) = (req.target?, req.token?);
        let ann = Announce::decode(req.value?).ok()?;
        let peer = ann.peer.clone()?;
        let sig = ann.signature?;
        let ns = if unannounce { &NS_UNANNOUNCE } else { &NS_ANNOUNCE };
        crate::wire::sign::verify(ns, &target, &self.id, &token, &peer, ann.refresh.as_ref(), &sig).then_some((target, ann, peer))
    }

    fn announce(&mut self, req: StoreRequest<'_>, now: Instant, now_unix_ms: u64) -> Action {
        // A refresh-only announce (no peer) is optional in hyperdht and Node's announcer does
        // not send one: not served.
        let Some((target, ann, mut peer)) = self.verified(&req, false) else {
            return Action::Ignore;
        };
        peer.relay_addresses.truncate(MAX_RELAY_ADDRESSES);
        let record = peer.encode();
        let stored = if hash(&peer.public_key) == target {
            let ok = self.announces.set_router(target, req.from, record, now);
            self.announces.remove_record(&target, &peer.public_key);
            ok
        } else {
            self.announces.add_record(target, (peer.public_key, record), *req.from.ip(), ann.bump, now, now_unix_ms)
        };
        if stored { Action::ReplyBare } else { Action::Ignore }
    }

    fn unannounce(&mut self, req: StoreRequest<'_>, _now: Instant) -> Action {
        let Some((target, _, peer)) = self.verified(&req, true) else {
            return Action::Ignore;
        };
        if hash(&peer.public_key) == target {
            self.announces.remove_router(&target);
        }
        self.announces.remove_record(&target, &peer.public_key);
        Action::ReplyBare
    }

    fn mutable_put(&mut self, req: StoreRequest<'_>, now: Instant) -> Action {
        let (Some(target), Some(_), Some(value)) = (req.target, req.token, req.value) else {
            return Action::Ignore;
        };
        let Ok(put) = MutablePut::decode(value) else {
            return Action::Ignore;
        };
        if put.target() != target || !put.verify() {
            return Action::Ignore;
        }
        if let Some(existing) = self.mutables.get(&target, now).and_then(|b| MutableRecord::decode(b).ok()) {
            if existing.seq == put.record.seq && existing.value != put.record.value {
                return Action::Reply { error: SEQ_REUSED, value: None };
            }
            if put.record.seq < existing.seq {
                return Action::Reply { error: SEQ_TOO_LOW, value: None };
            }
        }
        if !self.mutables.insert(target, put.record.encode(), *req.from.ip(), now) {
            return Action::Ignore;
        }
        Action::Reply { error: 0, value: None }
    }

    fn mutable_get(&self, req: StoreRequest<'_>, now: Instant) -> Action {
        let (Some(target), Some(value)) = (req.target, req.value) else {
            return Action::Ignore;
        };
        let Ok(min_seq) = mutable::decode_get_request(value) else {
            return Action::Ignore;
        };
        let stored = self.mutables.get(&target, now).filter(|b| MutableRecord::decode(b).is_ok_and(|r| r.seq >= min_seq));
        Action::Reply { error: 0, value: stored.cloned() }
    }

    fn immutable_put(&mut self, req: StoreRequest<'_>, now: Instant) -> Action {
        let (Some(target), Some(_), Some(value)) = (req.target, req.token, req.value) else {
            return Action::Ignore;
        };
        if hash(value) != target {
            return Action::Ignore;
        }
        if !self.immutables.insert(target, value.to_vec(), *req.from.ip(), now) {
            return Action::Ignore;
        }
        Action::Reply { error: 0, value: None }
    }
}

#[cfg(test)]
mod tests;
