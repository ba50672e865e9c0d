//! The Hyperswarm stream benchmark: one stream over UDX + secret-stream (what a
//! Hyperswarm connection carries) on 127.0.0.1, Rhizome ↔ Rhizome next to Node ↔ Node
//! (udx-native + @hyperswarm/secret-stream, two processes), in the same run, with
//! the ratio. Connect time is the UDX connect plus the secret-stream (Noise XX)
//! handshake, until the first byte arrives.
//!
//! `cargo run --release -p rhizome-bench --bin hyperswarm -- [MiB] [runs]`
//! (needs `npm ci` in interop-tests/hyperswarm).

mod udx;

use udx::MIB;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let size = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256usize) * MIB;
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let Some(dir) = udx::node_dir() else {
        anyhow::bail!("Node modules missing: run `npm ci` in interop-tests/hyperswarm");
    };
    println!("one UDX + secret-stream stream, 127.0.0.1, {} MiB per run, best of {runs}", size / MIB);
    let (mut best_r, mut best_n, mut connect) = (f64::MIN, f64::MIN, std::time::Duration::MAX);
    for i in 0..runs {
        let (c, d) = udx::rhizome(size).await?;
        let r = udx::mbps(size, d);
        let n = udx::mbps(size, udx::node_pair(&dir, size).await?);
        best_r = best_r.max(r);
        best_n = best_n.max(n);
        connect = connect.min(c);
        println!("run {i}: rhizome↔rhizome {r:8.1} MiB/s (connect + handshake {c:?})   node↔node {n:8.1} MiB/s");
    }
    println!(
        "best:  rhizome↔rhizome {best_r:8.1} MiB/s   node↔node {best_n:8.1} MiB/s   ratio {:.2}×   rhizome connect {connect:?}",
        best_r / best_n
    );
    Ok(())
}
