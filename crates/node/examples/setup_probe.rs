//! Connection set-up probe (issue 11): the same work the `setup`, `accept` and
//! `memory` benchmark rows time, Rhizome only, with CPU time per connection (less
//! noisy than wall time on a shared machine).
//!
//! ```text
//! cargo run --release -p rhizome-node --example setup_probe -- setup 1000
//! cargo run --release -p rhizome-node --example setup_probe -- accept 64 16
//! cargo run --release -p rhizome-node --example setup_probe -- memory 2000
//! ```
//! `memory` holds N idle connections to a listener in a child process and prints its
//! RSS growth per connection (set `PROBE_WRAP=heaptrack` to profile the child).

use std::time::{Duration, Instant};

use rhizome_core::KeypairExt as _;
use rhizome_node::{Config, ConnectionLimits, Keypair, Multiaddr, Node, PeerId, Stream, StreamCtx};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PROTO: &str = "/bench/1.0.0";

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn rss() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<f64>().ok()).unwrap_or(0.0) * 4096.0
}

async fn server() -> anyhow::Result<(Node, Multiaddr)> {
    let defaults = Config::default();
    let config = Config {
        limits: ConnectionLimits {
            max_pending_incoming: Some(1024),
            max_established_incoming: None,
            max_established_total: None,
            ..Default::default()
        },
        memory: rhizome_swarm::MemoryBudget { total: 8 << 30, ..defaults.memory },
        ..defaults
    };
    let node = Node::builder()
        .keypair(Keypair::from_seed([3; 32]))
        .config(config)
        .idle_timeout(Duration::from_secs(300))
        .listen("/ip4/127.0.0.1/tcp/0".parse()?)
        .build()
        .await?;
    node.set_stream_handler(PROTO, |mut s: Stream, _ctx: StreamCtx| async move {
        let mut buf = [0u8; 64];
        let mut n = 0u64;
        loop {
            let k = s.read(&mut buf).await?;
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        s.write_all(&n.to_be_bytes()).await?;
        s.shutdown().await
    })?;
    let addr = rhizome_identity::with_peer_id(&node.listen_addrs()[0], node.id());
    Ok((node, addr))
}

async fn client(i: usize) -> anyhow::Result<Node> {
    let mut s = [0xaa; 32];
    s[..8].copy_from_slice(&(i as u64).to_be_bytes());
    Ok(Node::builder().keypair(Keypair::from_seed(s)).build().await?)
}

async fn round_trip(node: &Node, peer: PeerId) -> anyhow::Result<()> {
    let mut s = node.open_stream(peer, PROTO).await?;
    s.write_all(&[1]).await?;
    s.shutdown().await?;
    let mut n = [0u8; 8];
    s.read_exact(&mut n).await?;
    Ok(())
}

fn pct(v: &mut [Duration], p: f64) -> f64 {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("accept") => {
            let (dialers, each) = (num(1, 64), num(2, 16));
            let (server, addr) = server().await?;
            let mut clients = Vec::new();
            for i in 0..dialers {
                clients.push(client(10_000 + i).await?);
            }
            let (start, cpu) = (Instant::now(), cpu_seconds());
            futures::future::try_join_all(clients.iter().map(|c| async {
                for _ in 0..each {
                    let peer = c.dial(addr.clone()).await?;
                    round_trip(c, peer).await?;
                    c.disconnect(&peer).await;
                }
                anyhow::Ok(())
            }))
            .await?;
            let n = (dialers * each) as f64;
            let (wall, cpu) = (start.elapsed().as_secs_f64(), cpu_seconds() - cpu);
            println!("accept: {:.0} conns/s, CPU {:.0} us/conn (both sides)", n / wall, cpu / n * 1e6);
            server.shutdown().await;
        }
        Some("listen") => {
            let (_server, addr) = server().await?;
            println!("{addr}");
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line)? > 0 {
                println!("{}", rss());
                line.clear();
            }
        }
        Some("memory") => {
            // The listener runs in a child (optionally under $PROBE_WRAP, e.g. heaptrack).
            use std::io::{BufRead as _, Write as _};
            let conns = num(1, 2000);
            let exe = std::env::current_exe()?;
            let mut cmd = match std::env::var("PROBE_WRAP") {
                Ok(w) => {
                    let mut c = std::process::Command::new(w);
                    c.arg(&exe);
                    c
                }
                Err(_) => std::process::Command::new(&exe),
            };
            let mut child = cmd.arg("listen").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn()?;
            let mut stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("stdin"))?;
            let mut out = std::io::BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("stdout"))?);
            let mut line = String::new();
            let addr: Multiaddr = loop {
                line.clear();
                out.read_line(&mut line)?;
                if let Ok(a) = line.trim().parse() {
                    break a;
                }
            };
            let mut measure = || -> anyhow::Result<f64> {
                std::thread::sleep(Duration::from_millis(500));
                writeln!(stdin, "m")?;
                line.clear();
                out.read_line(&mut line)?;
                Ok(line.trim().parse()?)
            };
            let warm = client(1).await?;
            let p = warm.dial(addr.clone()).await?;
            round_trip(&warm, p).await?;
            let before = measure()?;
            let mut clients = Vec::with_capacity(conns);
            for i in 0..conns {
                let c = client(i + 2).await?;
                let peer = c.dial(addr.clone()).await?;
                round_trip(&c, peer).await?;
                clients.push(c);
            }
            let after = measure()?;
            println!("memory: listener {:.2} KiB per idle connection ({conns} held)", (after - before) / conns as f64 / 1024.0);
            drop(stdin);
            let _ = child.wait();
            drop(clients);
        }
        _ => {
            let rounds = num(1, 1000);
            let (server, addr) = server().await?;
            let c = client(4).await?;
            let mut times = Vec::with_capacity(rounds);
            let cpu = cpu_seconds();
            for _ in 0..rounds {
                let start = Instant::now();
                let peer = c.dial(addr.clone()).await?;
                round_trip(&c, peer).await?;
                times.push(start.elapsed());
                c.disconnect(&peer).await;
            }
            let cpu = cpu_seconds() - cpu;
            println!(
                "setup: p50 {:.3} ms, p99 {:.3} ms, CPU {:.0} us/conn (both sides)",
                pct(&mut times, 0.5),
                pct(&mut times, 0.99),
                cpu / rounds as f64 * 1e6
            );
            tokio::join!(c.shutdown(), server.shutdown());
        }
    }
    Ok(())
}
