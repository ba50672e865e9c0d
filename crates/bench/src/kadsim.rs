//! The Kademlia rows: lookups in the deterministic 1,000- and 10,000-node simulations
//! (`rhizome::kad::simulation`): sans-IO cores on a virtual clock, 10–100 ms links,
//! α = 3, K = 20. No reference stack runs here (rust-libp2p's Kademlia has no
//! sans-IO core to put in the same simulation), so the rows have no ratio.

use std::time::Instant;

use rhizome::kad::simulation::{Config, Network};

use crate::report::{Better, Row};

/// Builds each network, runs `lookups` random lookups, and adds its rows.
pub(crate) fn rows(sizes: &[usize], lookups: usize, rows: &mut Vec<Row>) {
    for &nodes in sizes {
        let t = Instant::now();
        let mut net = Network::build(Config { nodes, seed: 3, ..Config::default() });
        let built = t.elapsed();
        let s = net.random_lookups(lookups, 5);
        eprintln!("[kad {nodes} nodes: built in {:.1} s, {s:?}]", built.as_secs_f64());
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let name = format!("Kademlia simulation, {nodes} nodes, {} lookups", s.lookups);
        rows.push(Row::single(&format!("{name}: latency p50, 10–100 ms links (ms)"), ms(s.latency_p50), Better::Lower));
        rows.push(Row::single(&format!("{name}: latency p99 (ms)"), ms(s.latency_p99), Better::Lower));
        rows.push(Row::single(&format!("{name}: hops, median"), f64::from(s.hops_p50), Better::Lower));
        rows.push(Row::single(&format!("{name}: messages (requests) per lookup, median"), f64::from(s.requests_p50), Better::Lower));
        let exact = 100.0 * s.exact as f64 / s.lookups.max(1) as f64;
        rows.push(Row::single(&format!("{name}: lookups returning the true 20 closest (%)"), exact, Better::Higher));
    }
}
