//! The connection pool: established connections by id and by peer, the counters the
//! limits are checked against, dials in flight and listeners.

use std::collections::{HashMap, HashSet};

use futures::future::{BoxFuture, Shared as SharedFuture};
use rhizome_core::{Multiaddr, PeerId};
use tokio_util::sync::CancellationToken;

use crate::connection::{Connection, ConnectionId, ConnectionInfo, Direction, ListenerId};
use crate::{Config, DialError, LimitKind};

pub(crate) type SharedDial = SharedFuture<BoxFuture<'static, Result<Connection, DialError>>>;

pub(crate) struct ListenerEntry {
    pub(crate) addr: Multiaddr,
    pub(crate) cancel: CancellationToken,
}

#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) conns: HashMap<ConnectionId, Connection>,
    pub(crate) by_peer: HashMap<PeerId, Vec<ConnectionId>>,
    established_in: usize,
    established_out: usize,
    pub(crate) pending_in: usize,
    pub(crate) pending_out: usize,
    pub(crate) dials: HashMap<PeerId, (u64, SharedDial)>,
    pub(crate) listeners: HashMap<ListenerId, ListenerEntry>,
    /// Peers whose connections are never trimmed.
    pub(crate) protected: HashSet<PeerId>,
}

/// Peers that can be protected at most.
pub const MAX_PROTECTED_PEERS: usize = 4096;

fn over(limit: Option<usize>, current: usize) -> bool {
    limit.is_some_and(|max| current >= max)
}

impl Pool {
    fn check_established(&self, peer: &PeerId, dir: Direction, cfg: &Config) -> Result<(), LimitKind> {
        let l = &cfg.limits;
        match dir {
            Direction::Inbound if over(l.max_established_incoming, self.established_in) => {
                return Err(LimitKind::EstablishedIncoming);
            }
            Direction::Outbound if over(l.max_established_outgoing, self.established_out) => {
                return Err(LimitKind::EstablishedOutgoing);
            }
            _ => {}
        }
        if over(l.max_established_total, self.established_in + self.established_out) {
            return Err(LimitKind::EstablishedTotal);
        }
        if over(l.max_established_per_peer, self.by_peer.get(peer).map_or(0, Vec::len)) {
            return Err(LimitKind::EstablishedPerPeer);
        }
        Ok(())
    }

    /// Whether one more inbound connection could be established (checked at accept,
    /// before spending an upgrade on it): there is a free slot, or one to trim.
    pub(crate) fn inbound_room(&self, cfg: &Config) -> Result<(), LimitKind> {
        let l = &cfg.limits;
        let limit = if over(l.max_established_incoming, self.established_in) {
            LimitKind::EstablishedIncoming
        } else if over(l.max_established_total, self.established_in + self.established_out) {
            LimitKind::EstablishedTotal
        } else {
            return Ok(());
        };
        if self.trim_candidate(cfg).is_some() { Ok(()) } else { Err(limit) }
    }

    /// The inbound connection to close to make room, if any: not protected, no open
    /// stream, older than `trim_grace`; from the peer with the most connections, and
    /// among those the most recently established.
    fn trim_candidate(&self, cfg: &Config) -> Option<ConnectionId> {
        if !cfg.trim_idle_inbound {
            return None;
        }
        self.conns
            .values()
            .filter(|c| c.info.direction == Direction::Inbound && c.open_streams() == 0 && !self.protected.contains(&c.info.peer))
            .filter(|c| c.established.elapsed() >= cfg.trim_grace)
            .max_by_key(|c| (self.by_peer.get(&c.info.peer).map_or(0, Vec::len), c.established))
            .map(|c| c.info.id)
    }

    /// Counts a pending connection, or refuses it by limit.
    pub(crate) fn add_pending(&mut self, dir: Direction, cfg: &Config) -> Result<(), LimitKind> {
        let limits = &cfg.limits;
        match dir {
            // Inbound pending connections are bounded by `PendingInbound` (with eviction).
            Direction::Inbound if over(limits.max_pending_incoming, self.pending_in) => Err(LimitKind::PendingIncoming),
            Direction::Outbound if over(limits.max_pending_outgoing, self.pending_out) => Err(LimitKind::PendingOutgoing),
            Direction::Inbound => {
                self.pending_in += 1;
                Ok(())
            }
            Direction::Outbound => {
                self.pending_out += 1;
                Ok(())
            }
        }
    }

    pub(crate) fn remove_pending(&mut self, dir: Direction) {
        match dir {
            Direction::Inbound => self.pending_in -= 1,
            Direction::Outbound => self.pending_out -= 1,
        }
    }

    /// Adds an established connection if the limits allow (an inbound one may take
    /// the place of a trimmed connection, returned with its remaining count so that
    /// the caller closes and reports it); returns how many connections the peer now
    /// has.
    pub(crate) fn insert(&mut self, conn: Connection, cfg: &Config) -> Result<(usize, Option<(Connection, usize)>), LimitKind> {
        let mut trimmed = None;
        if let Err(limit) = self.check_established(&conn.info.peer, conn.info.direction, cfg) {
            let trimmable =
                matches!(limit, LimitKind::EstablishedIncoming | LimitKind::EstablishedTotal) && conn.info.direction == Direction::Inbound;
            let victim = trimmable.then(|| self.trim_candidate(cfg)).flatten().and_then(|id| self.conns.get(&id).cloned());
            let Some(victim) = victim else { return Err(limit) };
            let remaining = self.remove(&victim.info).unwrap_or(0);
            self.check_established(&conn.info.peer, conn.info.direction, cfg)?;
            trimmed = Some((victim, remaining));
        }
        let info = &conn.info;
        match info.direction {
            Direction::Inbound => self.established_in += 1,
            Direction::Outbound => self.established_out += 1,
        }
        let ids = self.by_peer.entry(info.peer).or_default();
        ids.push(info.id);
        let n = ids.len();
        self.conns.insert(info.id, conn);
        Ok((n, trimmed))
    }

    /// Removes a connection; returns how many the peer has left, or `None` if it was
    /// not in the pool.
    pub(crate) fn remove(&mut self, info: &ConnectionInfo) -> Option<usize> {
        self.conns.remove(&info.id)?;
        match info.direction {
            Direction::Inbound => self.established_in -= 1,
            Direction::Outbound => self.established_out -= 1,
        }
        let remaining = match self.by_peer.get_mut(&info.peer) {
            Some(ids) => {
                ids.retain(|id| *id != info.id);
                ids.len()
            }
            None => 0,
        };
        if remaining == 0 {
            self.by_peer.remove(&info.peer);
        }
        Some(remaining)
    }

    /// The most recently established open connection to `peer`.
    pub(crate) fn connection_to(&self, peer: &PeerId) -> Option<Connection> {
        self.open_connections_to(peer).next()
    }

    /// The most recently established open connection to `peer` that can open streams.
    pub(crate) fn stream_connection_to(&self, peer: &PeerId) -> Option<Connection> {
        self.open_connections_to(peer).find(Connection::can_open_streams)
    }

    fn open_connections_to(&self, peer: &PeerId) -> impl Iterator<Item = Connection> + '_ {
        self.by_peer.get(peer).into_iter().flatten().rev().filter_map(|id| self.conns.get(id)).filter(|c| !c.is_closed()).cloned()
    }
}
