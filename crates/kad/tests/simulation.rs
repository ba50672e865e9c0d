//! The deterministic Kademlia simulation (`kad::simulation`): lookups on a network of
//! sans-IO cores must find the true 20 closest nodes in few hops, on a virtual clock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome_kad::simulation::{Config, Network};

#[test]
fn thousand_nodes_find_the_true_closest() {
    let started = std::time::Instant::now();
    let mut net = Network::build(Config { nodes: 1000, seed: 7, ..Config::default() });
    let r = net.random_lookups(200, 11);
    println!("kad simulation, 1000 nodes: {r:?}, table ≈ {} bytes/node, {:?}", net.heap_per_node(), started.elapsed());
    assert_eq!(r.exact, r.lookups, "every lookup returns the true 20 closest");
    assert!(r.hops_p50 <= 4, "median hops {}", r.hops_p50);
    // With α = 3 over 10–100 ms links, a lookup takes a few round trips, never the
    // 10 s request timeout (nothing is lost here).
    assert!(r.latency_p50 >= Duration::from_millis(10) && r.latency_p99 < Duration::from_secs(2), "{r:?}");
}

#[test]
fn links_have_fixed_symmetric_round_trip_times() {
    let config = Config { nodes: 20, rounds: 0, ..Config::default() };
    let net = Network::build(config);
    let (a, b) = (net.ids()[1], net.ids()[2]);
    assert_eq!(net.rtt(&a, &b), net.rtt(&b, &a));
    for x in net.ids() {
        for y in net.ids() {
            let rtt = net.rtt(x, y);
            assert!(rtt >= config.rtt_min && rtt <= config.rtt_max, "{rtt:?}");
        }
    }
    let distinct: std::collections::HashSet<Duration> = net.ids().iter().map(|x| net.rtt(&a, x)).collect();
    assert!(distinct.len() > 10, "round-trip times are spread: {}", distinct.len());
}

/// Resident memory in bytes (Linux), for the benchmark below.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<usize>().ok()).unwrap_or(0) * 4096
}

/// Benchmark-style: `cargo test -p rhizome-kad --release --test simulation -- --ignored --nocapture`
/// (the benchmark suite's `kad` rows run the same simulation).
#[test]
#[ignore = "benchmark: 10,000 nodes, run in release"]
fn ten_thousand_nodes_benchmark() {
    let before = rss();
    let started = std::time::Instant::now();
    let mut net = Network::build(Config { nodes: 10_000, seed: 3, ..Config::default() });
    let built = started.elapsed();
    let after = rss();
    let r = net.random_lookups(500, 5);
    println!(
        "kad simulation, 10000 nodes: built in {built:?}; {r:?}; table ≈ {} bytes/node (estimate), RSS growth {} bytes/node",
        net.heap_per_node(),
        after.saturating_sub(before) / 10_000
    );
    // At 10,000 nodes about 95 % of lookups are exact (a second self-lookup round does
    // not change it): near a random target, the true 20 closest fall partly in full
    // buckets of their neighbours, so a few are known to none of the peers asked.
    assert!(r.exact * 100 >= r.lookups * 90, "{} of {} exact", r.exact, r.lookups);
    assert!(r.hops_p50 <= 5);
}
