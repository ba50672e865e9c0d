//! Swarm limits and timeouts, with their documented defaults.

use std::time::Duration;

/// Connection limits. `None` means unlimited; every default is finite.
///
/// | limit | default |
/// |---|---|
/// | `max_pending_incoming` (inbound connections being upgraded; when full, a new one takes the slot of the least active, see below) | 128 |
/// | `max_pending_outgoing` (dials in progress) | 128 |
/// | `max_established_incoming` | 1024 |
/// | `max_established_outgoing` | 1024 |
/// | `max_established_per_peer` (both directions) | 4 |
/// | `max_established_total` | 2048 |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Inbound connections being upgraded at once. When full, a new connection
    /// takes the slot of the pending connection that received a byte least
    /// recently, among those of the source address holding the most slots.
    pub max_pending_incoming: Option<usize>,
    /// Outbound dials in progress at once; more fail with `DialError::Denied`.
    pub max_pending_outgoing: Option<usize>,
    /// Established inbound connections; more are refused (closed at once).
    pub max_established_incoming: Option<usize>,
    /// Established outbound connections; more dials fail.
    pub max_established_outgoing: Option<usize>,
    /// Established connections to one peer, both directions.
    pub max_established_per_peer: Option<usize>,
    /// Established connections in all.
    pub max_established_total: Option<usize>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_pending_incoming: Some(128),
            max_pending_outgoing: Some(128),
            max_established_incoming: Some(1024),
            max_established_outgoing: Some(1024),
            max_established_per_peer: Some(4),
            max_established_total: Some(2048),
        }
    }
}

/// Swarm settings (`swarm::Config`).
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `dial_timeout` | 10 s | transport connect (TCP handshake) |
/// | `upgrade_timeout` | 10 s | multistream + Noise + multistream + yamux, per connection |
/// | `first_byte_timeout` | 3 s | an inbound connection that sends no byte by then is dropped |
/// | `negotiation_timeout` | 10 s | multistream-select on one stream |
/// | `idle_timeout` | 60 s | a connection with no open stream for this long is closed; a connection with open streams never is |
/// | `max_negotiating_inbound_streams` | 32 | per connection; further inbound streams wait in the muxer's backlog (yamux: 256, then reset) |
/// | `max_negotiating_inbound_streams_total` | 1024 | across all connections, shared fairly by peers (a peer below `total / peers` takes a slot from the peer holding the most, whose oldest negotiating stream is reset); a negotiating stream can hold a 256 KiB yamux window of unread data, so 256 MiB at most |
/// | `default_max_inbound_streams` | 64 | per protocol and connection, unless the handler says otherwise |
/// | `event_capacity` | 1024 | events buffered per subscriber before it is told it lagged |
/// | `max_listeners` | 32 | |
/// | `dial_concurrency` | 4 | addresses of one peer dialed at once by `dial_peer`; the first to connect wins |
/// | `trim_idle_inbound` | true | at the inbound (or total) connection limit, a new inbound connection takes the place of an idle one: not protected (`Swarm::protect_peer`), no open stream, older than `trim_grace`; from the peer with the most connections |
/// | `trim_grace` | 10 s | how long a new connection is safe from trimming |
/// | `memory` | 512 MiB | the node-wide budget of buffered bytes (see [`crate::MemoryBudget`]): connections and streams past it are refused |
/// | `route_timeout` | 30 s | one peer router's lookup, when no address of a peer is known |
/// | `external_addr_confirmations` | 2 | distinct peers that must report observing an address before it is a confirmed external address |
#[derive(Debug, Clone)]
pub struct Config {
    /// Connection limits.
    pub limits: ConnectionLimits,
    /// Transport connect timeout.
    pub dial_timeout: Duration,
    /// Connection upgrade timeout (security + muxer negotiation and handshakes).
    pub upgrade_timeout: Duration,
    /// An inbound connection that sent no byte within this is dropped.
    pub first_byte_timeout: Duration,
    /// Protocol negotiation timeout on each stream.
    pub negotiation_timeout: Duration,
    /// Idle connections (no open streams) are closed after this long.
    pub idle_timeout: Duration,
    /// Inbound streams negotiating at once, per connection.
    pub max_negotiating_inbound_streams: usize,
    /// Inbound streams negotiating at once, across all connections.
    pub max_negotiating_inbound_streams_total: usize,
    /// Concurrent inbound streams per protocol and connection, for handlers that do
    /// not set their own limit.
    pub default_max_inbound_streams: usize,
    /// Event broadcast capacity.
    pub event_capacity: usize,
    /// Maximum number of listeners.
    pub max_listeners: usize,
    /// Addresses of one peer dialed concurrently by `dial_peer` (the first that
    /// connects wins; the others are abandoned).
    pub dial_concurrency: usize,
    /// Trim idle inbound connections to make room for new ones at the limit.
    pub trim_idle_inbound: bool,
    /// A connection younger than this is never trimmed.
    pub trim_grace: Duration,
    /// The node-wide memory budget for connections and streams.
    pub memory: crate::MemoryBudget,
    /// How long one peer router may take to find a peer.
    pub route_timeout: Duration,
    /// Distinct peers that must observe an address before it is confirmed external.
    pub external_addr_confirmations: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: ConnectionLimits::default(),
            dial_timeout: Duration::from_secs(10),
            upgrade_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(3),
            negotiation_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_negotiating_inbound_streams: 32,
            max_negotiating_inbound_streams_total: 1024,
            default_max_inbound_streams: 64,
            event_capacity: 1024,
            max_listeners: 32,
            dial_concurrency: 4,
            trim_idle_inbound: true,
            trim_grace: Duration::from_secs(10),
            memory: crate::MemoryBudget::default(),
            route_timeout: Duration::from_secs(30),
            external_addr_confirmations: 2,
        }
    }
}
