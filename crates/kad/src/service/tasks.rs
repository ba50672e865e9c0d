//! Background work, stopping on the node's shutdown token: learning peers from
//! connections, following the node's external addresses for the automatic mode, the
//! periodic bootstrap, and maintenance (expiry, republishing, bucket refresh).

use std::time::Duration;

use rhizome_node::{Event as NodeEvent, Node};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug};

use super::{Kademlia, Quorum, now};
use crate::store::Source;

/// How long addresses given to [`Kademlia::add_peer`] stay in the address book.
pub(crate) const ADDR_TTL: Duration = Duration::from_secs(24 * 3600);
/// Records and provided keys republished per maintenance tick at most.
const REPUBLISH_PER_TICK: usize = 64;

pub(super) fn spawn(kad: &Kademlia, node: &Node) {
    let stop = node.shutdown_token();
    // Peers connected before we started are checked too.
    for info in node.connections().into_iter().filter(|c| c.naming.is_negotiated()) {
        kad.probe_later(info.peer);
    }
    let watcher = kad.clone();
    let events = node.events();
    let token = stop.clone();
    tokio::spawn(async move { watcher.watch(events, token).await }.instrument(tracing::debug_span!("kad_events")));
    let worker = kad.clone();
    tokio::spawn(async move { worker.maintain(stop).await }.instrument(tracing::debug_span!("kad_maintenance")));
}

impl Kademlia {
    async fn watch(self, mut events: tokio::sync::broadcast::Receiver<NodeEvent>, stop: CancellationToken) {
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                e = events.recv() => e,
            };
            match event {
                Ok(NodeEvent::Connected { info, .. }) if info.naming.is_negotiated() => self.probe_later(info.peer),
                Ok(NodeEvent::ExternalAddrConfirmed { .. }) => {
                    if let Some(node) = self.inner.node() {
                        self.update_mode(&node);
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => debug!(missed = n, "kad fell behind node events"),
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn maintain(self, stop: CancellationToken) {
        let config = &self.inner.config;
        let mut tick = tokio::time::interval(config.maintenance_interval.max(Duration::from_millis(10)));
        let mut bootstrap = tokio::time::interval(config.bootstrap_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        bootstrap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    tokio::select! { _ = stop.cancelled() => return, _ = self.maintenance() => {} }
                }
                _ = bootstrap.tick() => {
                    // The first tick fires at once: bootstrap at start only with configured peers.
                    let due = !first || !config.bootstrap_peers.is_empty();
                    first = false;
                    if due && (!config.bootstrap_peers.is_empty() || !self.inner.core().table.is_empty()) {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            r = self.bootstrap() => if let Err(e) = r { debug!(error = %e, "periodic bootstrap failed") },
                        }
                    }
                }
            }
        }
    }

    /// One maintenance pass: expiry, republishing, re-announcing, bucket refresh,
    /// automatic mode.
    pub(crate) async fn maintenance(&self) {
        let (expired, records, provided) = {
            let mut core = self.inner.core();
            let now = now();
            let expired = core.store.expire(now);
            (expired, core.store.due_republish(now, REPUBLISH_PER_TICK), core.store.due_reprovide(now, REPUBLISH_PER_TICK))
        };
        if expired > 0 {
            debug!(expired, "records expired");
        }
        for (record, source) in records {
            let quorum = if source == Source::Local { Quorum::One } else { Quorum::N(0) };
            if let Err(e) = self.replicate(record, quorum).await {
                debug!(error = %e, "republishing failed");
            }
        }
        for key in provided {
            if let Err(e) = self.announce(key).await {
                debug!(error = %e, "re-announcing a provided key failed");
            }
        }
        if !self.inner.core().table.is_empty() {
            self.refresh_buckets(self.inner.config.refresh_interval).await;
        }
        if let Some(node) = self.inner.node() {
            self.update_mode(&node);
        }
    }
}
