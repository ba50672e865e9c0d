//! Probe (issue 11): Rhizome ↔ Rhizome over UDX + secret-stream only (no Node run), with
//! the CPU this process used, a timeline of bytes received and the UDX counters, for
//! profiling the Hyperswarm row.
//!
//! `cargo run --release -p rhizome-bench --example udx_probe -- [MiB] [runs]`; `WIN=N` sets
//! the receive window and send buffer, `CHUNK=N` the writer's write size; `ON_MAIN=1` runs the reader on the thread blocked
//! on `main` instead of as a task (how the suite ran it before).
use std::time::{Duration, Instant};

#[path = "../src/udx.rs"]
#[allow(dead_code)]
mod udx;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: usize = 1 << 20;

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<f64> = stat.rsplit(')').next().unwrap_or("").split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

async fn run(size: usize) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut sc = rhizome_udx::SocketConfig::default();
    if let Ok(w) = std::env::var("WIN") {
        sc.stream.recv_window = w.parse()?;
        sc.stream.send_buffer = w.parse()?;
    }
    let (sa, sb) = udx::pair(sc).await?;
    if let Some(ms) = std::env::var("SETTLE_MS").ok().and_then(|v| v.parse().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let handshake = start.elapsed();
    let ready = Instant::now();
    let (mut sa, mut sb) = (sa, sb);
    if let Some(gap) = std::env::var("PINGPONG_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        let mut buf = [0u8; 1024];
        let mut rtts = Vec::new();
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(gap)).await;
            let t = Instant::now();
            sa.write_all(&buf).await?;
            sb.read_exact(&mut buf).await?;
            sb.write_all(&buf).await?;
            sa.read_exact(&mut buf).await?;
            rtts.push(format!("{:.0}", t.elapsed().as_micros()));
        }
        println!("  1 KiB round trips after {gap} ms gaps (us): {}", rtts.join(" "));
    }
    let sent_buf = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sb2 = sent_buf.clone();
    let write = async move {
        let chunk = vec![7u8; std::env::var("CHUNK").ok().and_then(|v| v.parse().ok()).unwrap_or(256 * 1024)];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            sa.write_all(&chunk[..n]).await?;
            sb2.store(sa.get_ref().buffered_bytes(), std::sync::atomic::Ordering::Relaxed);
            left -= n;
        }
        sa.shutdown().await?;
        anyhow::Ok(sa.get_ref().stats())
    };
    let writer = tokio::spawn(write);
    let mut buf = vec![0u8; 256 * 1024];
    let (mut got, mut first) = (0, None);
    let mut marks = Vec::new();
    let mut next = Duration::from_millis(25);
    loop {
        let n = sb.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let t0 = *first.get_or_insert_with(Instant::now);
        got += n;
        if t0.elapsed() >= next {
            marks.push((next, got, sent_buf.load(std::sync::atomic::Ordering::Relaxed) >> 10, sb.get_ref().buffered_bytes() >> 10));
            next += Duration::from_millis(25);
        }
    }
    let stats = writer.await??;
    let first = first.unwrap_or(start);
    let d = first.elapsed();
    println!(
        "{:7.1} MiB/s  handshake {handshake:?}  first byte {:?} after it  sender {stats:?}  receiver {:?}",
        got as f64 / MIB as f64 / d.as_secs_f64(),
        first.saturating_duration_since(ready),
        sb.get_ref().stats()
    );
    let mut prev = 0;
    let line: Vec<String> = marks
        .iter()
        .map(|(_, g, s, r)| {
            let rate = (g - prev) as f64 / MIB as f64 / 0.025;
            prev = *g;
            format!("{rate:.0}({s}K/{r}K)")
        })
        .collect();
    println!("  MiB/s per 25 ms: {}", line.join(" "));
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(256);
    let runs: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    for _ in 0..runs {
        let cpu0 = cpu_secs();
        if std::env::var_os("ON_MAIN").is_some() {
            run(mib * MIB).await?;
        } else {
            tokio::spawn(run(mib * MIB)).await??;
        }
        println!("  CPU {:.2} s/GiB", (cpu_secs() - cpu0) / (mib as f64 / 1024.0));
    }
    Ok(())
}
