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
//! Kademlia and Hyperswarm add theirs as they land.
#![deny(missing_docs)]

mod collector;
mod http;

pub use collector::Metrics;
pub use http::{MAX_CONCURRENT_SCRAPES, MAX_REQUEST_BYTES, MetricsServer, ServeError};
