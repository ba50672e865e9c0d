//! Hyperswarm's metrics (feature `hyperswarm`), read from the swarm's counters at each
//! scrape (the registry does not keep the swarm alive).

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use rhizome_hyperswarm::{CountersHandle, Hyperswarm};

use crate::collector::{counter, gauge};

#[derive(Debug)]
struct SwarmCollector {
    counters: CountersHandle,
}

impl Collector for SwarmCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let c = self.counters.snapshot();
        let none: [(&str, &str); 0] = [];
        counter(&mut encoder, "rhizome_hyperswarm_lookups", "Topic lookups run", &[(none, c.lookups)])?;
        counter(&mut encoder, "rhizome_hyperswarm_lookups_failed", "Topic lookups that failed", &[(none, c.lookups_failed)])?;
        counter(&mut encoder, "rhizome_hyperswarm_peers_found", "Peer records returned by lookups", &[(none, c.peers_found)])?;
        counter(&mut encoder, "rhizome_hyperswarm_announces", "Topic announces run", &[(none, c.announces)])?;
        counter(&mut encoder, "rhizome_hyperswarm_announces_failed", "Topic announces that failed", &[(none, c.announces_failed)])?;
        let s = c.stats;
        counter(&mut encoder, "rhizome_hyperswarm_connect_attempts", "Outbound connection attempts", &[(none, s.client_attempted)])?;
        counter(
            &mut encoder,
            "rhizome_hyperswarm_connections_opened",
            "Connections opened by direction",
            &[([("direction", "outbound")], s.client_opened), ([("direction", "inbound")], s.server_opened)],
        )?;
        counter(
            &mut encoder,
            "rhizome_hyperswarm_connections_closed",
            "Connections (or outbound attempts) ended by direction",
            &[([("direction", "outbound")], s.client_closed), ([("direction", "inbound")], s.server_closed)],
        )?;
        let open = i64::try_from(c.connections).unwrap_or(i64::MAX);
        gauge(&mut encoder, "rhizome_hyperswarm_connections", "Connections open", &[(none, open)])?;
        counter(&mut encoder, "rhizome_hyperswarm_bans", "Peers banned", &[(none, s.banned_peers)])?;
        Ok(())
    }
}

/// Adds `swarm`'s metrics to `registry` (use it in [`crate::Metrics::with`]).
pub fn register_hyperswarm(registry: &mut Registry, swarm: &Hyperswarm) {
    registry.register_collector(Box::new(SwarmCollector { counters: swarm.counters_handle() }));
}
