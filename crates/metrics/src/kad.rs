//! Kademlia's metrics (feature `kad`), read from [`rhizome_kad::Kademlia::stats`] at each
//! scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use rhizome_kad as kad;

use crate::collector::{counter, gauge};

#[derive(Debug)]
struct KadCollector {
    kad: kad::Kademlia,
}

fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for KadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.kad.stats();
        let none: [(&str, &str); 0] = [];
        let server = i64::from(matches!(s.mode, kad::Mode::Server));
        gauge(&mut encoder, "rhizome_kad_server_mode", "1 in server mode, 0 in client mode", &[(none, server)])?;
        gauge(&mut encoder, "rhizome_kad_routing_table_peers", "Peers in the routing table", &[(none, int(s.routing_table_peers))])?;
        gauge(&mut encoder, "rhizome_kad_records", "Records held", &[(none, int(s.store.records))])?;
        gauge(&mut encoder, "rhizome_kad_record_bytes", "Bytes of keys and values held", &[(none, int(s.store.record_bytes))])?;
        gauge(&mut encoder, "rhizome_kad_provider_entries", "Provider entries held for other peers", &[(none, int(s.store.providers))])?;
        counter(
            &mut encoder,
            "rhizome_kad_inbound_requests",
            "Inbound requests by result",
            &[
                ([("result", "served")], s.inbound.served),
                ([("result", "refused")], s.inbound.refused),
                ([("result", "malformed")], s.malformed_inbound),
            ],
        )?;
        counter(&mut encoder, "rhizome_kad_queries_started", "Queries started", &[(none, s.queries)])?;
        counter(&mut encoder, "rhizome_kad_queries_finished", "Queries finished", &[(none, s.queries_finished)])?;
        counter(&mut encoder, "rhizome_kad_queries_failed", "Queries that found nothing", &[(none, s.queries_failed)])?;
        counter(&mut encoder, "rhizome_kad_query_hops", "Hops summed over finished queries", &[(none, s.query_hops_total)])?;
        counter(&mut encoder, "rhizome_kad_query_requests", "Requests summed over finished queries", &[(none, s.query_requests_total)])?;
        Ok(())
    }
}

/// Adds `kad`'s metrics to `registry` (use it in [`crate::Metrics::with`]).
pub fn register_kad(registry: &mut Registry, kad: &kad::Kademlia) {
    registry.register_collector(Box::new(KadCollector { kad: kad.clone() }));
}
