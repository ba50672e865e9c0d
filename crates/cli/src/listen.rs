//! `rhizome listen`: JSON lines for listening addresses, connections, identify and
//! served perf streams.

use std::time::Duration;

use rhizome::identity::with_peer_id;
use rhizome::node::Event;
use rhizome::{autonat, identify};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::args::ListenArgs;
use crate::output::Out;
use crate::peer;

pub async fn run(args: ListenArgs, out: Out) -> anyhow::Result<()> {
    // Signal handlers first: a script may send SIGTERM as soon as it reads `listening`.
    let stop = stop_signal(args.max_seconds)?;
    let keypair = peer::keypair(&args.key)?;
    let peer = peer::start(keypair, &args.listen, &args.bootstrap, args.echo).await?;
    let node = &peer.node;
    let mut events = node.events();
    let mut identified = peer.identify.subscribe();
    let mut served = peer.perf.subscribe();
    // Kademlia in server mode; with --bootstrap peers, join the DHT through them.
    let dht = rhizome::kad::Kademlia::start(node, rhizome::kad::Config::server());
    let _metrics = match args.metrics {
        Some(addr) => {
            let metrics = rhizome::metrics::Metrics::with(node, |r| rhizome::metrics::register_kad(r, &dht));
            let server = metrics.serve(addr).await?;
            out.event("metrics", json!({ "addr": server.local_addr().to_string(), "path": "/metrics" }));
            Some(server)
        }
        None => None,
    };
    if !args.bootstrap.is_empty() {
        let dht = dht.clone();
        tokio::spawn(async move {
            // The bootstrap dials started with the node: give them a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
            if let Err(e) = dht.bootstrap().await {
                tracing::warn!(error = %e, "kad bootstrap failed");
            }
        });
    }
    let nat = args.autonat.then(|| start_autonat(node, &dht));
    let mut nat_events = nat.as_ref().map(|n| n.subscribe());
    for addr in node.listen_addrs() {
        out.event("listening", json!({ "peer_id": node.id().to_string(), "addr": with_peer_id(&addr, node.id()).to_string() }));
    }
    tokio::pin!(stop);
    loop {
        // Biased: a connection's line always comes before what identify learned on it
        // (both may be ready at once; scripts read them in this order).
        tokio::select! {
            biased;
            _ = &mut stop => break,
            ev = events.recv() => match ev {
                Ok(Event::Connected { info, .. }) => out.event("connection", json!({
                    "peer_id": info.peer.to_string(),
                    "remote_addr": info.remote_addr.to_string(),
                    "direction": format!("{:?}", info.direction).to_lowercase(),
                })),
                Ok(Event::Disconnected { info, .. }) => out.event("disconnected", json!({ "peer_id": info.peer.to_string() })),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            ev = identified.recv() => match ev {
                Ok(identify::Event::Received { peer: p, info }) => {
                    if let (Some(nat), Some(observed)) = (&nat, &info.observed_addr) {
                        nat.add_candidate(observed.clone());
                    }
                    out.event("identify", peer::identify_json(p, &info))
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            ev = next_nat(&mut nat_events) => match ev {
                Ok(autonat::Event::StatusChanged { old, new }) => {
                    let confidence = nat.as_ref().map_or(0, |n| n.confidence());
                    out.event("nat_status", nat_json(&old, &new, confidence));
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => nat_events = None,
            },
            ev = served.recv() => match ev {
                Ok(s) => out.event("perf_served", json!({
                    "peer_id": s.peer.to_string(), "received_bytes": s.received, "sent_bytes": s.sent,
                })),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
        }
    }
    node.shutdown_within(Duration::from_secs(2)).await;
    Ok(())
}

/// AutoNAT, both roles; the first probe 2 s after start (rust-libp2p's 15 s is long
/// for a command), then rust-libp2p's schedule. Kademlia follows the verdict.
fn start_autonat(node: &rhizome::Node, dht: &rhizome::kad::Kademlia) -> autonat::AutoNat {
    let client = autonat::ClientConfig { boot_delay: Duration::from_secs(2), ..autonat::ClientConfig::default() };
    let nat = autonat::AutoNat::start(node, autonat::Config { client: Some(client), ..autonat::Config::default() });
    nat.drive_kad(dht);
    nat
}

async fn next_nat(events: &mut Option<tokio::sync::broadcast::Receiver<autonat::Event>>) -> Result<autonat::Event, RecvError> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// `{"status": "public"|"private"|"unknown", "addr": …|null, "old": …, "confidence": n}`.
pub fn nat_json(old: &autonat::NatStatus, new: &autonat::NatStatus, confidence: usize) -> serde_json::Value {
    let addr = match new {
        autonat::NatStatus::Public(a) => serde_json::Value::from(a.to_string()),
        _ => serde_json::Value::Null,
    };
    json!({ "status": new.as_str(), "addr": addr, "old": old.as_str(), "confidence": confidence })
}

/// SIGINT, SIGTERM, or the optional time limit. The handlers are registered when this
/// is called, not when the future is first polled.
pub(crate) fn stop_signal(max_seconds: Option<u64>) -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    Ok(async move {
        let limit = async {
            match max_seconds {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
            _ = limit => {}
        }
        #[cfg(not(unix))]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = limit => {}
        }
    })
}
