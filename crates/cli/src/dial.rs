//! `rhizome dial`: connect, identify, ping (and echo), as JSON lines.

use std::time::Duration;

use anyhow::Context as _;
use rhizome::{perf, ping};
use serde_json::json;

use crate::args::DialArgs;
use crate::output::Out;
use crate::peer;

/// Runs the steps; prints `done`; returns whether every step succeeded.
pub async fn run(args: DialArgs, out: Out) -> bool {
    let limit = Duration::from_secs(args.timeout);
    let result = tokio::time::timeout(limit, steps(&args, out)).await;
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(_) => Some(format!("timed out after {}s", args.timeout)),
    };
    match &error {
        None => out.event("done", json!({ "ok": true })),
        Some(e) => out.event("done", json!({ "ok": false, "error": e })),
    }
    error.is_none()
}

async fn steps(args: &DialArgs, out: Out) -> anyhow::Result<()> {
    let keypair = peer::keypair(&args.key)?;
    let peer = peer::start(keypair, &[], &[], false).await?;
    let node = &peer.node;
    let mut identified = peer.identify.subscribe();

    let remote = node.dial(args.addr.clone()).await.context("connect")?;
    let conn = node.connection_to(&remote).context("connection closed right after dialing")?;
    out.event("connected", json!({ "peer_id": remote.to_string(), "remote_addr": conn.info().remote_addr.to_string() }));

    let info = peer::identified(&peer, remote, &mut identified).await?;
    out.event("identify", peer::identify_json(remote, &info));

    if args.pings > 0 {
        let config = ping::Config::default();
        let mut pinger = ping::Pinger::open(node, remote, &config).await.context("opening ping stream")?;
        for seq in 0..args.pings {
            let rtt = pinger.ping().await.context("ping")?;
            out.event("ping", json!({ "peer_id": remote.to_string(), "rtt_ms": rtt.as_secs_f64() * 1000.0, "seq": seq }));
        }
        pinger.close().await.context("closing ping stream")?;
    }
    if args.echo {
        peer::check_echo(node, remote, peer::ECHO_BYTES).await.context("echo")?;
        out.event("echo", json!({ "peer_id": remote.to_string(), "bytes": peer::ECHO_BYTES, "ok": true }));
    }
    let argv: Vec<String> = std::env::args().collect();
    let ops = crate::kad::ops_in_order(&argv, &args.kad_find_node, &args.kad_put, &args.kad_get);
    if !ops.is_empty() {
        crate::kad::run(node, remote, &ops, &out).await?;
    }
    if let Some([up, down]) = args.perf.as_deref() {
        let report = perf::run(node, remote, *up, *down).await.context("perf")?;
        out.event(
            "perf",
            json!({
                "ok": true, "peer_id": remote.to_string(), "upload_bytes": report.upload_bytes,
                "download_bytes": report.download_bytes, "total_seconds": report.total.as_secs_f64(),
                "upload_seconds": report.upload.as_secs_f64(), "download_seconds": report.download.as_secs_f64(),
            }),
        );
    }
    node.shutdown_within(Duration::from_secs(1)).await;
    Ok(())
}
