//! Probe (issue 11): 1 GiB one way through TCP + Noise, or TCP + Noise + yamux, with
//! the CPU each thread used, to see where a layer costs time and whether the two
//! ends run in parallel.
//!
//! ```text
//! cargo run --release -p rhizome-bench --example layer_probe -- noise          # one runtime
//! cargo run --release -p rhizome-bench --example layer_probe -- threads        # a runtime per end
//! cargo run --release -p rhizome-bench --example layer_probe -- yamux          # our muxer
//! cargo run --release -p rhizome-bench --example layer_probe -- yamux-crate    # the yamux crate
//! WIN=1048576 STREAMS=16 cargo run … -- yamux                        # max window, 16 streams
//! ```
use std::time::Instant;

use rhizome::KeypairExt as _;
use rhizome::noise::{NoiseStream, handshake_inbound, handshake_outbound};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// (user, system) CPU seconds of a `/proc/.../stat` line.
fn cpu(stat: &str) -> (f64, f64) {
    let f: Vec<f64> = stat.rsplit(')').next().unwrap_or("").split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    (f.get(11).copied().unwrap_or(0.0) / 100.0, f.get(12).copied().unwrap_or(0.0) / 100.0)
}

fn cpu_secs() -> f64 {
    let (u, k) = cpu(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    u + k
}

async fn pair() -> anyhow::Result<(NoiseStream<TcpStream>, NoiseStream<TcpStream>)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let (c, s) = tokio::try_join!(TcpStream::connect(l.local_addr()?), async { Ok(l.accept().await?.0) })?;
    c.set_nodelay(true)?;
    s.set_nodelay(true)?;
    let (kc, ks) = (rhizome::Keypair::from_seed([21; 32]), rhizome::Keypair::from_seed([22; 32]));
    let ((_, c), (_, s)) = tokio::try_join!(handshake_outbound(c, &kc, None, &[]), handshake_inbound(s, &ks, &[]))?;
    Ok((c, s))
}

const BYTES: u64 = 1 << 30;
const CHUNK: usize = 256 * 1024;

async fn send<W: AsyncWrite + Unpin>(mut c: W, bytes: u64) -> anyhow::Result<()> {
    let chunk = vec![0x5a; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        c.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    c.shutdown().await?;
    Ok(())
}

async fn recv<R: AsyncRead + Unpin>(mut s: R) -> anyhow::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0u64;
    loop {
        let r = s.read(&mut buf).await?;
        if r == 0 {
            return Ok(n);
        }
        n += r as u64;
    }
}

fn main() -> anyhow::Result<()> {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (t0, c0);
    let got = if mode == "threads" {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        let c = std::net::TcpStream::connect(l.local_addr()?)?;
        let s = l.accept()?.0;
        for x in [&c, &s] {
            x.set_nodelay(true)?;
            x.set_nonblocking(true)?;
        }
        let b = std::sync::Arc::new(std::sync::Barrier::new(3));
        let b2 = b.clone();
        let tx = std::thread::spawn(move || -> anyhow::Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let k = rhizome::Keypair::from_seed([21; 32]);
                let (_, c) = handshake_outbound(TcpStream::from_std(c)?, &k, None, &[]).await?;
                b2.wait();
                send(c, BYTES).await
            })
        });
        let b3 = b.clone();
        let rx = std::thread::spawn(move || -> anyhow::Result<u64> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let k = rhizome::Keypair::from_seed([22; 32]);
                let (_, s) = handshake_inbound(TcpStream::from_std(s)?, &k, &[]).await?;
                b3.wait();
                recv(s).await
            })
        });
        b.wait();
        (t0, c0) = (Instant::now(), cpu_secs());
        tx.join().map_err(|_| anyhow::anyhow!("panic"))??;
        rx.join().map_err(|_| anyhow::anyhow!("panic"))??
    } else if mode.starts_with("yamux") {
        use rhizome::core::{MuxedConnection, Muxer as _, Role};
        let rt = tokio::runtime::Runtime::new()?;
        let (c, s) = rt.block_on(pair())?;
        let mut cfg = rhizome::yamux::Config::default();
        if let Ok(w) = std::env::var("WIN") {
            cfg.max_stream_window = w.parse()?;
        }
        if mode == "yamux-crate" {
            cfg = cfg.with_crate_impl();
        }
        (t0, c0) = (Instant::now(), cpu_secs());
        let n = rt.block_on(async move {
            let client = cfg.start(Box::new(c), Role::Initiator);
            let MuxedConnection { control: _sc, mut inbound, driver } = cfg.start(Box::new(s), Role::Responder);
            tokio::spawn(client.driver);
            tokio::spawn(driver);
            // STREAMS=N: N streams at once, each with its own task at both ends.
            let n: u64 = std::env::var("STREAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
            let h = tokio::spawn(async move {
                let mut tasks = Vec::new();
                for _ in 0..n {
                    let s = inbound.recv().await.ok_or_else(|| anyhow::anyhow!("no stream"))?;
                    tasks.push(tokio::spawn(recv(s.io)));
                }
                let mut got = 0;
                for t in tasks {
                    got += t.await??;
                }
                anyhow::Ok(got)
            });
            let mut senders = Vec::new();
            for _ in 0..n {
                let st = client.control.open_stream().await?;
                // ON_MAIN=1: the (single) sender runs in `block_on`, as the suite's does.
                if std::env::var("ON_MAIN").is_ok() {
                    send(st, BYTES / n).await?;
                } else {
                    senders.push(tokio::spawn(send(st, BYTES / n)));
                }
            }
            for t in senders {
                t.await??;
            }
            h.await?
        })?;
        // Kept alive so that its threads' CPU time is printed below.
        std::mem::forget(rt);
        n
    } else {
        let rt = tokio::runtime::Runtime::new()?;
        let (c, s) = rt.block_on(pair())?;
        (t0, c0) = (Instant::now(), cpu_secs());
        rt.block_on(async move {
            let h = tokio::spawn(recv(s));
            send(c, BYTES).await?;
            h.await?
        })?
    };
    let secs = t0.elapsed().as_secs_f64();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let st = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let name = st.split('(').nth(1).and_then(|x| x.split(')').next()).unwrap_or("");
            let (u, k) = cpu(&st);
            println!("  thread {name}: user {u:.2} s, system {k:.2} s");
        }
    }
    println!("{mode}: {got} bytes, {:.0} MB/s, {:.2} CPUs", got as f64 / secs / 1e6, (cpu_secs() - c0) / secs);
    Ok(())
}
