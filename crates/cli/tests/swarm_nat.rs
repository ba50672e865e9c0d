//! `rhizome swarm testnet|serve|join --host` across real NATs (the NAT lab of
//! crates/fault-tests, built in network namespaces): two peers behind their own
//! port-preserving NATs meet on a topic through a Rhizome testnet on the public namespace
//! and exchange 1 MiB each way. The routers drop unsolicited inbound packets and no relay
//! carries data, so the connection exists only if the holepunch worked. Needs root;
//! skips with a message otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fault-tests/tests/natlab/mod.rs"]
mod natlab;

use std::time::{Duration, Instant};

use natlab::{Lab, NatKind, PUBLIC};

/// Reads `proc`'s lines until one with `event` (bounded).
fn until(proc: &natlab::Proc, event: &str, limit: Duration) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let v = proc.json(deadline.saturating_duration_since(Instant::now()));
        if v["event"] == event {
            return v;
        }
        assert_ne!(v["event"], "error", "{v}");
        assert!(Instant::now() < deadline, "no {event} line");
    }
}

#[test]
fn swarm_topic_peers_punch_through_two_nats() {
    if natlab::skip() {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_rhizome");
    let mut lab = Lab::new(&[NatKind::Consistent, NatKind::Consistent], 0);
    let (_tn, boot) = lab.rust_testnet(bin, &["swarm", "testnet", "--host", PUBLIC]);
    let (h0, h1) = (lab.home(0).to_string(), lab.home(1).to_string());
    let topic = "c9".repeat(32);
    let serve =
        ["swarm", "serve", "--bootstrap", &boot, "--host", "198.19.1.2", "--topic", &topic, "--seed", "1", "--echo", "--max-seconds", "90"];
    let server = lab.spawn(&h0, bin, &serve, None);
    let listening = until(&server, "listening", Duration::from_secs(30));
    let mib = (1 << 20).to_string();
    let join = ["swarm", "join", "--bootstrap", &boot, "--host", "198.19.2.2", "--topic", &topic, "--perf", &mib, &mib, "--timeout", "40"];
    let client = lab.spawn(&h1, bin, &join, None);
    let connected = until(&client, "connected", Duration::from_secs(45));
    assert_eq!(connected["remote_public_key"], listening["public_key"]);
    let perf = until(&client, "perf", Duration::from_secs(45));
    assert_eq!(perf["ok"], true, "{perf}");
    assert_eq!(perf["upload_bytes"], 1 << 20);
    assert_eq!(perf["download_bytes"], 1 << 20);
    assert_eq!(until(&client, "done", Duration::from_secs(10))["ok"], true);
    eprintln!("topic peers punched: connected after {} ms, perf {perf}", connected["connect_ms"]);
}
