//! Service settings and their defaults.

use std::sync::Arc;
use std::time::Duration;

use rhizome_node::Multiaddr;

use crate::query::QueryConfig;
use crate::store::StoreConfig;
use crate::validate::{Namespaced, Validator};

/// The default largest message we read or write (256 KiB; rust-libp2p reads 16 KiB,
/// go-libp2p 4 MiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024;

/// Whether we answer Kademlia requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// We only ask; inbound `/ipfs/kad/1.0.0` streams are refused (`na`).
    Client,
    /// We ask and answer.
    Server,
}

/// Kademlia settings (`kad::Config`).
///
/// | setting | default |
/// |---|---|
/// | `mode` | `None`: server once the node has a confirmed external address, client before |
/// | `query` | k = 20, α = 3, 10 s per request, 60 s per query |
/// | `store` | see [`StoreConfig`] |
/// | `max_message_size` | 256 KiB |
/// | `max_requests_per_stream` | 64 requests served on one inbound stream |
/// | `inbound_idle_timeout` | 60 s between requests on an inbound stream (go's server) |
/// | `max_inbound_streams` | 32 per connection (as rust-libp2p) |
/// | `bootstrap_interval` | 5 min (and once at start when `bootstrap_peers` is set) |
/// | `refresh_interval` | 10 min: a bucket with no lookup for this long is refreshed |
/// | `maintenance_interval` | 60 s: expiry, republishing and refresh checks |
/// | `min_cache_ttl` | 60 s |
/// | `cache_on_lookup` | true |
/// | `event_capacity` | 256 |
/// | `max_concurrent_probes` | 16 checks of new peers' kad support at once; up to 1,024 more new peers wait their turn (oldest first), beyond that they are checked when they next connect or ask us |
#[derive(Clone)]
pub struct Config {
    /// Forced mode, or `None` for automatic.
    pub mode: Option<Mode>,
    /// Lookup parameters.
    pub query: QueryConfig,
    /// Store limits and lifetimes.
    pub store: StoreConfig,
    /// Record validation.
    pub validator: Arc<dyn Validator>,
    /// Largest message read or written.
    pub max_message_size: usize,
    /// Requests served on one inbound stream before it is closed.
    pub max_requests_per_stream: usize,
    /// How long an inbound stream may sit idle between requests.
    pub inbound_idle_timeout: Duration,
    /// Concurrent inbound kad streams per connection.
    pub max_inbound_streams: usize,
    /// Peers (with `/p2p/<id>`) to bootstrap from.
    pub bootstrap_peers: Vec<Multiaddr>,
    /// Period of the automatic bootstrap.
    pub bootstrap_interval: Duration,
    /// A bucket with no lookup for this long is refreshed.
    pub refresh_interval: Duration,
    /// Period of the maintenance tick.
    pub maintenance_interval: Duration,
    /// Shortest TTL of a cached copy.
    pub min_cache_ttl: Duration,
    /// Whether GET_VALUE lookups store a cached copy at the closest peer that lacked it.
    pub cache_on_lookup: bool,
    /// Events buffered per subscriber.
    pub event_capacity: usize,
    /// New peers checked for kad support at once.
    pub max_concurrent_probes: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("query", &self.query)
            .field("store", &self.store)
            .field("max_message_size", &self.max_message_size)
            .field("bootstrap_peers", &self.bootstrap_peers)
            .field("bootstrap_interval", &self.bootstrap_interval)
            .field("refresh_interval", &self.refresh_interval)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: None,
            query: QueryConfig::default(),
            store: StoreConfig::default(),
            validator: Arc::new(Namespaced::default()),
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_requests_per_stream: 64,
            inbound_idle_timeout: Duration::from_secs(60),
            max_inbound_streams: 32,
            bootstrap_peers: Vec::new(),
            bootstrap_interval: Duration::from_secs(5 * 60),
            refresh_interval: Duration::from_secs(10 * 60),
            maintenance_interval: Duration::from_secs(60),
            min_cache_ttl: Duration::from_secs(60),
            cache_on_lookup: true,
            event_capacity: 256,
            max_concurrent_probes: 16,
        }
    }
}

impl Config {
    /// The defaults, in forced server mode (tests, `rhizome listen`).
    pub fn server() -> Self {
        Self { mode: Some(Mode::Server), ..Self::default() }
    }
}
