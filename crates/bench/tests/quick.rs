//! CI keeps the benchmarks from rotting: the suite is built and every row runs once at a
//! tiny size (`compare --quick --mib 1 --conns 20 --dials 5`). Only success and the shape of
//! the table are checked; no time or ratio is ever judged here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn every_row_runs_once_at_a_tiny_size() {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_compare"))
        .args(["--quick", "--mib", "1", "--conns", "20", "--dials", "5"])
        .output()
        .expect("run compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "compare --quick failed:\n{stdout}\n{stderr}");
    let mut rows = vec![
        "seal loop",
        "raw TCP",
        "1 stream, upload",
        "1 stream, download",
        "16 concurrent streams",
        "set-up",
        "accepted connections/s",
        "memory per idle connection",
    ];
    let node = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm/node_modules");
    if node.is_dir() {
        rows.push("Hyperswarm: UDX + secret-stream");
        rows.push("HyperDHT connect (5-node testnet");
        rows.push("HyperDHT connection,");
    }
    for row in rows {
        assert!(stdout.contains(row), "row {row:?} missing from:\n{stdout}");
    }
    // every row with a reference has a ratio
    assert!(stdout.matches("× (").count() >= 7, "ratios missing:\n{stdout}");
    // a bound on a hang, not a performance judgement
    assert!(start.elapsed() < Duration::from_secs(600));
}
