//! `rhizome swarm`: testnet, serve, join, put, get — JSON lines for test harnesses.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rhizome::hyperdht::testnet::Testnet;
use rhizome::hyperswarm::{Config, DhtNetwork, Hyperswarm, JoinOpts, Keypair, hex};
use serde_json::json;

use crate::args::{SwarmCommand, SwarmCommon, SwarmGetArgs, SwarmJoinArgs, SwarmPutArgs, SwarmServeArgs};
use crate::listen::stop_signal;
use crate::output::Out;
use crate::swarm_io::{self, Step, StepResult};

/// The key pair of `--seed N` (32 bytes of N), else a fresh one.
pub fn keypair(seed: Option<u8>) -> Keypair {
    match seed {
        Some(n) => Keypair::from_seed(&[n; 32]),
        None => Keypair::generate(),
    }
}

/// Runs a swarm command; returns whether every step succeeded.
pub async fn run(cmd: SwarmCommand, out: Out) -> bool {
    let result = match cmd {
        SwarmCommand::Testnet { nodes, host } => testnet(usize::from(nodes), host, out).await,
        SwarmCommand::Serve(args) => serve(args, out).await,
        SwarmCommand::Join(args) => join(args, out).await,
        SwarmCommand::Put(args) => put(args, out).await,
        SwarmCommand::Get(args) => get(args, out).await,
    };
    match result {
        Ok(ok) => ok,
        Err(e) => {
            out.event("error", json!({ "error": format!("{e:#}") }));
            false
        }
    }
}

async fn testnet(nodes: usize, host: std::net::Ipv4Addr, out: Out) -> anyhow::Result<bool> {
    let stop = stop_signal(None)?;
    let first = std::net::SocketAddrV4::new(host, 0);
    let net = Testnet::spawn_on(first, nodes, Default::default()).await.context("starting the testnet")?;
    let boot: Vec<String> = net.bootstrap().iter().map(ToString::to_string).collect();
    let all: Vec<String> = net.addresses().iter().map(ToString::to_string).collect();
    out.event("testnet", json!({ "bootstrap": boot, "nodes": all }));
    stop.await;
    Ok(true)
}

/// The DHT node, bound to `--host` (127.0.0.1 by default).
async fn network(common: &SwarmCommon) -> anyhow::Result<DhtNetwork> {
    let bind = std::net::SocketAddrV4::new(common.host, 0);
    let dht = rhizome::hyperdht::Dht::bind(bind, common.bootstrap.clone(), Default::default()).await?;
    Ok(DhtNetwork::new(std::sync::Arc::new(dht)))
}

async fn swarm(common: &SwarmCommon) -> anyhow::Result<Hyperswarm> {
    let net = network(common).await.context("starting the DHT node")?;
    Ok(Hyperswarm::standalone(keypair(common.seed), net, Config::default()))
}

async fn serve(args: SwarmServeArgs, out: Out) -> anyhow::Result<bool> {
    let stop = stop_signal(args.max_seconds)?;
    let swarm = swarm(&args.common).await?;
    let mut conns = swarm.connections().context("connections taken")?;
    let mut topic = swarm.join(args.topic, JoinOpts::server()).await?;
    if !topic.flushed().await {
        out.event("error", json!({ "error": "announce failed" }));
        return Ok(false);
    }
    out.event("listening", json!({ "public_key": hex(&swarm.public_key()), "topic": hex(&args.topic) }));
    tokio::pin!(stop);
    // Connections served at once at most; beyond, new ones wait in the swarm's backlog.
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(64));
    loop {
        tokio::select! {
            c = conns.recv() => {
                let Some(c) = c else { break };
                out.event("connection", json!({ "remote_public_key": hex(c.stream.remote_public_key()) }));
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let echo = args.echo;
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = swarm_io::serve_connection(c.stream, echo).await {
                        tracing::debug!(error = %e, "swarm connection ended");
                    }
                });
            }
            _ = &mut stop => break,
        }
    }
    // Unannounce, but do not hang on a DHT that is already gone.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        topic.leave().await;
        swarm.destroy().await;
    })
    .await;
    Ok(true)
}

async fn join(args: SwarmJoinArgs, out: Out) -> anyhow::Result<bool> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let step = match (&args.send, &args.perf) {
        (Some(text), _) => Step::Echo(text.clone().into_bytes()),
        (None, Some(p)) => Step::Perf { up: p.first().copied().unwrap_or(0), down: p.get(1).copied().unwrap_or(0) },
        (None, None) => Step::None,
    };
    let swarm = swarm(&args.common).await?;
    let mut conns = swarm.connections().context("connections taken")?;
    let _topic = swarm.join(args.topic, JoinOpts::client()).await?;
    let mut ok = false;
    loop {
        let Ok(Some(c)) = tokio::time::timeout_at(deadline, conns.recv()).await else {
            out.event("error", json!({ "error": "timed out" }));
            break;
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        out.event("connected", json!({ "remote_public_key": hex(c.stream.remote_public_key()), "connect_ms": ms }));
        match tokio::time::timeout_at(deadline, swarm_io::run_step(c.stream, &step)).await {
            Err(_) => {
                out.event("error", json!({ "error": "timed out" }));
                break;
            }
            // The connection dropped before the step was done: take the next one.
            Ok(Err(e)) => {
                out.event("dropped", json!({ "error": e.to_string() }));
                continue;
            }
            Ok(Ok(StepResult::None)) => ok = true,
            Ok(Ok(StepResult::Echo { ok: good, bytes })) => {
                out.event("echo", json!({ "ok": good, "bytes": bytes }));
                ok = good;
            }
            Ok(Ok(StepResult::Perf { ok: good, up, down, seconds })) => {
                out.event("perf", json!({ "ok": good, "upload_bytes": up, "download_bytes": down, "seconds": seconds }));
                ok = good;
            }
        }
        break;
    }
    out.event("done", json!({ "ok": ok }));
    let _ = tokio::time::timeout(Duration::from_secs(5), swarm.destroy()).await;
    Ok(ok)
}

async fn put(args: SwarmPutArgs, out: Out) -> anyhow::Result<bool> {
    let net = network(&args.common).await?;
    let value = args.value.as_bytes();
    if args.immutable {
        let r = net.dht().immutable_put(value).await?;
        out.event("put", json!({ "kind": "immutable", "hash": hex(&r.target), "stored": r.stored }));
        return Ok(r.stored > 0);
    }
    let kp = keypair(args.common.seed);
    let r = net.dht().mutable_put(&kp, value, args.seq).await?;
    out.event("put", json!({ "kind": "mutable", "public_key": hex(&kp.public_key()), "seq": args.seq, "stored": r.stored }));
    Ok(r.stored > 0)
}

async fn get(args: SwarmGetArgs, out: Out) -> anyhow::Result<bool> {
    let net = network(&args.common).await?;
    if let Some(hash) = args.hash {
        let got = net.dht().immutable_get(&hash).await;
        return Ok(match got {
            Ok(Some(v)) => {
                out.event("get", json!({ "kind": "immutable", "found": true, "value": String::from_utf8_lossy(&v) }));
                true
            }
            Ok(None) => {
                out.event("get", json!({ "kind": "immutable", "found": false }));
                false
            }
            Err(e) => {
                out.event("get", json!({ "kind": "immutable", "found": false, "error": e.to_string() }));
                false
            }
        });
    }
    let pk = args.public_key.context("--public-key or --hash")?;
    Ok(match net.dht().mutable_get(&pk, args.seq).await {
        Ok(Some(v)) => {
            out.event("get", json!({ "kind": "mutable", "found": true, "seq": v.seq, "value": String::from_utf8_lossy(&v.value) }));
            true
        }
        Ok(None) => {
            out.event("get", json!({ "kind": "mutable", "found": false }));
            false
        }
        Err(e) => {
            out.event("get", json!({ "kind": "mutable", "found": false, "error": e.to_string() }));
            false
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_one_is_sodiums_seed_keypair() {
        assert_eq!(hex(&keypair(Some(1)).public_key()), "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c");
    }
}
