//! Experiment: one Noise stream, 1 GiB, sender and receiver each on its own thread
//! with its own current-thread runtime, against both on the default runtime.
use std::time::Instant;

use rhizome::KeypairExt as _;
use rhizome::noise::{NoiseStream, handshake_inbound, handshake_outbound};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let t: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0) + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    t / 100.0
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

async fn send(mut c: NoiseStream<TcpStream>) -> anyhow::Result<()> {
    let chunk = vec![0x5a; CHUNK];
    let mut left = BYTES;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        c.write_all(&chunk[..n]).await?;
        left -= n as u64;
    }
    c.shutdown().await?;
    Ok(())
}

async fn recv(mut s: NoiseStream<TcpStream>) -> anyhow::Result<u64> {
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
                send(c).await
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
            let h = tokio::spawn(async move {
                let mut s = inbound.recv().await.ok_or_else(|| anyhow::anyhow!("no stream"))?;
                let mut buf = vec![0u8; CHUNK];
                let mut n = 0u64;
                loop {
                    let r = s.io.read(&mut buf).await?;
                    if r == 0 {
                        return anyhow::Ok(n);
                    }
                    n += r as u64;
                }
            });
            let mut st = client.control.open_stream().await?;
            let chunk = vec![0x5a; CHUNK];
            let mut left = BYTES;
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                st.write_all(&chunk[..n]).await?;
                left -= n as u64;
            }
            st.shutdown().await?;
            h.await?
        })?;
        std::mem::forget(rt);
        n
    } else {
        let rt = tokio::runtime::Runtime::new()?;
        let (c, s) = rt.block_on(pair())?;
        (t0, c0) = (Instant::now(), cpu_secs());
        rt.block_on(async move {
            let h = tokio::spawn(recv(s));
            send(c).await?;
            h.await?
        })?
    };
    let secs = t0.elapsed().as_secs_f64();
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for e in dir.flatten() {
            let st = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let name = st.split('(').nth(1).and_then(|x| x.split(')').next()).unwrap_or("").to_string();
            let f: Vec<&str> = st.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let u: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0);
            let k: f64 = f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
            let sw = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
            let vol = sw.lines().find(|l| l.starts_with("voluntary_ctxt_switches")).unwrap_or("").to_string();
            println!("  thread {name}: user {:.2} s sys {:.2} s {vol}", u / 100.0, k / 100.0);
        }
    }
    println!("{mode}: {got} bytes, {:.0} MB/s, {:.2} CPUs", got as f64 / secs / 1e6, (cpu_secs() - c0) / secs);
    Ok(())
}
