//! The registry and the collector that reads the node's counters on each scrape.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use rhizome_node::{Direction, Node, StreamDirection, WeakNode};

/// A node's metrics: a registry (add your own metrics to it) whose node metrics are
/// read at scrape time.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
}

#[derive(Debug)]
struct NodeCollector {
    node: WeakNode,
}

fn dir(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

fn stream_dir(d: StreamDirection) -> &'static str {
    match d {
        StreamDirection::Inbound => "inbound",
        StreamDirection::Outbound => "outbound",
    }
}

pub(crate) fn counter<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(L, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (labels, value) in rows {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

pub(crate) fn gauge<L: prometheus_client::encoding::EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[(L, i64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
    for (labels, value) in rows {
        ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

fn open(opened: u64, closed: u64) -> i64 {
    i64::try_from(opened.saturating_sub(closed)).unwrap_or(i64::MAX)
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(node) = self.node.upgrade() else { return Ok(()) };
        let s = node.stats();
        let conn_labels = |c: &rhizome_node::ConnectionStat| [("direction", dir(c.direction)), ("transport", c.transport)];
        let conns = &s.connections;
        counter(
            &mut encoder,
            "rhizome_connections_opened",
            "Connections established",
            &conns.iter().map(|c| (conn_labels(c), c.opened)).collect::<Vec<_>>(),
        )?;
        counter(
            &mut encoder,
            "rhizome_connections_closed",
            "Connections closed",
            &conns.iter().map(|c| (conn_labels(c), c.closed)).collect::<Vec<_>>(),
        )?;
        gauge(
            &mut encoder,
            "rhizome_connections",
            "Connections open",
            &conns.iter().map(|c| (conn_labels(c), open(c.opened, c.closed))).collect::<Vec<_>>(),
        )?;
        let stream_labels =
            |st: &rhizome_node::StreamStat| vec![("protocol", st.protocol.clone()), ("direction", stream_dir(st.direction).to_owned())];
        let streams = &s.streams;
        counter(
            &mut encoder,
            "rhizome_streams_opened",
            "Streams opened",
            &streams.iter().map(|st| (stream_labels(st), st.opened)).collect::<Vec<_>>(),
        )?;
        counter(
            &mut encoder,
            "rhizome_streams_closed",
            "Streams closed",
            &streams.iter().map(|st| (stream_labels(st), st.closed)).collect::<Vec<_>>(),
        )?;
        gauge(
            &mut encoder,
            "rhizome_streams",
            "Streams open",
            &streams.iter().map(|st| (stream_labels(st), open(st.opened, st.closed))).collect::<Vec<_>>(),
        )?;
        let none: [(&str, &str); 0] = [];
        counter(&mut encoder, "rhizome_transport_received_bytes", "Bytes read from transport connections", &[(none, s.bytes_in)])?;
        counter(&mut encoder, "rhizome_transport_sent_bytes", "Bytes written to transport connections", &[(none, s.bytes_out)])?;
        counter(
            &mut encoder,
            "rhizome_handshake_failures",
            "Failed connection upgrades by cause",
            &s.handshake_failures.iter().map(|(c, n)| ([("cause", *c)], *n)).collect::<Vec<_>>(),
        )?;
        counter(
            &mut encoder,
            "rhizome_connection_refusals",
            "Connections refused by reason",
            &s.refusals.iter().map(|(r, n)| ([("reason", *r)], *n)).collect::<Vec<_>>(),
        )?;
        let pending = i64::try_from(s.pending_inbound).unwrap_or(i64::MAX);
        gauge(&mut encoder, "rhizome_pending_inbound_connections", "Inbound connections being upgraded", &[(none, pending)])?;
        Ok(())
    }
}

impl Metrics {
    /// A registry with `node`'s metrics (read at each scrape; the node is held weakly).
    pub fn new(node: &Node) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeCollector { node: node.downgrade() }));
        Self { registry: Arc::new(registry) }
    }

    /// A registry with `node`'s metrics and the application's own (`extra` is
    /// called once with the registry, before it is shared).
    pub fn with(node: &Node, extra: impl FnOnce(&mut Registry)) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(NodeCollector { node: node.downgrade() }));
        extra(&mut registry);
        Self { registry: Arc::new(registry) }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}
