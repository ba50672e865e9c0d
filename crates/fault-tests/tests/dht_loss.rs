//! DHT lookups at 10 % packet loss in a 50-node network: at least 99 % must succeed,
//! for Kademlia over TCP and for the HyperDHT over UDP (its announces too). All nodes
//! run in one `fault-peer` process on 127.0.0.1 inside a namespace the test makes;
//! once the network is built, that loopback drops every arriving packet with
//! probability 0.1. Needs root.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod netns;

use std::time::{Duration, Instant};

use netns::Net;

const NODES: &str = "50";
const LOOKUPS: usize = 100;

/// Runs `fault-peer KIND 50 100`: once its network is built, the namespace's loopback
/// drops 10 % of the packets; returns its `LOOKUPS` line.
fn lookups_at_ten_percent_loss(kind: &str, limit: Duration) -> serde_json::Value {
    let mut net = Net::new();
    let a = net.a.clone();
    let started = Instant::now();
    let (idx, rx) = net.spawn(&a, &[kind, NODES, &LOOKUPS.to_string()]);
    let ready = rx.recv_timeout(Duration::from_secs(120)).expect("the network was not built in 2 minutes");
    assert_eq!(ready, "READY");
    eprintln!("{kind}: {NODES} nodes built in {:?}; now 10 % loss", started.elapsed());
    net.exec_in(&a, &["iptables", "-A", "INPUT", "-i", "lo", "-m", "statistic", "--mode", "random", "--probability", "0.1", "-j", "DROP"]);
    net.send_line(idx, "go");
    let status = net.wait(idx, limit);
    assert!(status.is_some(), "{kind} still running after {limit:?}: a hang");
    // The process has exited: its reader thread ends at EOF, so this ends too.
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        lines.push(line);
    }
    eprintln!("{kind} after {:?}: {lines:?}", started.elapsed());
    let line = lines.iter().find_map(|l| l.strip_prefix("LOOKUPS ")).unwrap_or_else(|| panic!("no LOOKUPS line: {lines:?}"));
    serde_json::from_str(line).expect("LOOKUPS json")
}

fn assert_99_percent(out: &serde_json::Value) {
    let (n, ok) = (out["lookups"].as_u64().unwrap(), out["succeeded"].as_u64().unwrap());
    assert_eq!(n, LOOKUPS as u64);
    assert!(ok * 100 >= n * 99, "only {ok} of {n} lookups succeeded at 10 % loss: {out}");
}

#[test]
fn kad_lookups_at_10_percent_loss_in_50_nodes() {
    let out = lookups_at_ten_percent_loss("kad-lookups", Duration::from_secs(240));
    assert_99_percent(&out);
}

#[test]
fn hyperdht_lookups_at_10_percent_loss_in_50_nodes() {
    let out = lookups_at_ten_percent_loss("hdht-lookups", Duration::from_secs(240));
    assert_99_percent(&out);
}
