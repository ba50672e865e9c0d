//! Prometheus metrics for a Rhizome node.
//!
//! [`Metrics::new`] builds a `prometheus-client` registry whose values are read from
//! the node on each scrape; [`Metrics::serve`] answers `GET /metrics` over HTTP in the
//! Prometheus text format (`rhizome listen --metrics 127.0.0.1:PORT`).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `rhizome_connections_opened_total` | counter | `direction`, `transport` |
//! | `rhizome_connections_closed_total` | counter | `direction`, `transport` |
//! | `rhizome_connections` | gauge | `direction`, `transport` |
//! | `rhizome_streams_opened_total` | counter | `protocol`, `direction` |
//! | `rhizome_streams_closed_total` | counter | `protocol`, `direction` |
//! | `rhizome_streams` | gauge | `protocol`, `direction` |
//! | `rhizome_transport_received_bytes_total` | counter | |
//! | `rhizome_transport_sent_bytes_total` | counter | |
//! | `rhizome_handshake_failures_total` | counter | `cause` |
//! | `rhizome_connection_refusals_total` | counter | `reason` |
//! | `rhizome_pending_inbound_connections` | gauge | |
//!
//! With the `kad` feature, [`register_kad`] adds Kademlia's (read from
//! `Kademlia::stats` at each scrape):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `rhizome_kad_server_mode` | gauge (1 server, 0 client) | |
//! | `rhizome_kad_routing_table_peers` | gauge | |
//! | `rhizome_kad_records`, `rhizome_kad_record_bytes`, `rhizome_kad_provider_entries` | gauge | |
//! | `rhizome_kad_inbound_requests_total` | counter | `result`: `served`, `refused`, `malformed` |
//! | `rhizome_kad_queries_started_total`, `rhizome_kad_queries_finished_total`, `rhizome_kad_queries_failed_total` | counter | |
//! | `rhizome_kad_query_hops_total`, `rhizome_kad_query_requests_total` | counter (divide by finished queries for the mean) | |
//!
//! With the `hyperswarm` feature, [`register_hyperswarm`] adds the topic service's:
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `rhizome_hyperswarm_lookups_total`, `rhizome_hyperswarm_lookups_failed_total`, `rhizome_hyperswarm_peers_found_total` | counter | |
//! | `rhizome_hyperswarm_announces_total`, `rhizome_hyperswarm_announces_failed_total` | counter | |
//! | `rhizome_hyperswarm_connect_attempts_total`, `rhizome_hyperswarm_bans_total` | counter | |
//! | `rhizome_hyperswarm_connections_opened_total`, `rhizome_hyperswarm_connections_closed_total` | counter | `direction` |
//! | `rhizome_hyperswarm_connections` | gauge | |
#![deny(missing_docs)]

mod collector;
mod http;
#[cfg(feature = "hyperswarm")]
mod hyperswarm;
#[cfg(feature = "kad")]
mod kad;

pub use collector::Metrics;
pub use http::{MAX_CONCURRENT_SCRAPES, MAX_REQUEST_BYTES, MetricsServer, ServeError};
#[cfg(feature = "hyperswarm")]
pub use hyperswarm::register_hyperswarm;
#[cfg(feature = "kad")]
pub use kad::register_kad;
