//! What the service reports (`kad::Event`).

use std::time::Duration;

use rhizome_node::PeerId;

use crate::config::Mode;
use crate::query::QueryStats;

/// Identifies one query in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// What a query does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryKind {
    /// `find_node`.
    FindNode,
    /// `get_closest_peers` (and the first half of put_value / start_providing).
    GetClosestPeers,
    /// `get_value`.
    GetValue,
    /// `put_value`.
    PutValue,
    /// `find_providers`.
    GetProviders,
    /// `start_providing`.
    AddProvider,
    /// `bootstrap` and bucket refresh.
    Bootstrap,
}

/// Something the service did (bounded broadcast: a slow receiver is told it lagged).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A query started.
    QueryStarted {
        /// The query.
        id: QueryId,
        /// Its kind.
        kind: QueryKind,
    },
    /// A query ended.
    QueryFinished {
        /// The query.
        id: QueryId,
        /// Its kind.
        kind: QueryKind,
        /// Whether it reached its goal.
        ok: bool,
        /// Its counters (requests, hops…).
        stats: QueryStats,
        /// How long it ran.
        duration: Duration,
    },
    /// A peer entered the routing table.
    RoutingUpdated {
        /// The peer.
        peer: PeerId,
    },
    /// We switched between client and server mode.
    ModeChanged {
        /// The new mode.
        mode: Mode,
    },
    /// We refused an inbound request (invalid record, store limit…).
    InboundRefused {
        /// The requester.
        peer: PeerId,
    },
}
