//! Kademlia follows the NAT status (feature `kad`).

use rhizome_kad::{Kademlia, Mode};
use tokio::sync::broadcast::error::RecvError;
use tracing::Instrument as _;

use crate::{AutoNat, Event, NatStatus};

fn mode_for(status: &NatStatus) -> Option<Mode> {
    match status {
        NatStatus::Public(_) => Some(Mode::Server),
        NatStatus::Private => Some(Mode::Client),
        NatStatus::Unknown => None,
    }
}

impl AutoNat {
    /// Makes `kad` follow our status from now on, through [`Kademlia::set_mode`]:
    /// server when `Public`, client when `Private`, its configured or automatic mode
    /// when `Unknown`. Stops when the node shuts down.
    pub fn drive_kad(&self, kad: &Kademlia) {
        let Some(node) = self.inner_node() else { return };
        let mut events = self.subscribe();
        let stop = node.shutdown_token();
        drop(node);
        kad.set_mode(mode_for(&self.status()));
        let (kad, nat) = (kad.clone(), self.clone());
        tokio::spawn(
            async move {
                loop {
                    let event = tokio::select! {
                        _ = stop.cancelled() => return,
                        e = events.recv() => e,
                    };
                    match event {
                        Ok(Event::StatusChanged { new, .. }) => kad.set_mode(mode_for(&new)),
                        Ok(_) => {}
                        Err(RecvError::Lagged(_)) => kad.set_mode(mode_for(&nat.status())),
                        Err(RecvError::Closed) => return,
                    }
                }
            }
            .instrument(tracing::debug_span!("autonat_kad")),
        );
    }
}
