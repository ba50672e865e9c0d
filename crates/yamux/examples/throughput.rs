//! TCP + Noise + yamux on 127.0.0.1: our muxer and the `yamux` crate in the same run
//! (`cargo run --release -p rhizome-yamux --example throughput -- [MiB]`).
//! Prints MB/s for one stream each way and 16 concurrent streams up.

use std::time::Instant;

use rhizome_core::{Muxer as _, Role};
use rhizome_identity::{Keypair, KeypairExt as _};
use rhizome_noise::{NoiseStream, handshake_inbound, handshake_outbound};
use rhizome_yamux::{Config, Implementation};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;
const CHUNK: usize = 256 * 1024;

async fn noise_pair() -> Result<(NoiseStream<TcpStream>, NoiseStream<TcpStream>), Error> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (c, s) = tokio::try_join!(TcpStream::connect(listener.local_addr()?), async { Ok(listener.accept().await?.0) })?;
    c.set_nodelay(true)?;
    s.set_nodelay(true)?;
    let (kc, ks) = (Keypair::from_seed([21; 32]), Keypair::from_seed([22; 32]));
    let ((_, c), (_, s)) = tokio::try_join!(handshake_outbound(c, &kc, None, &[]), handshake_inbound(s, &ks, &[]))?;
    Ok((c, s))
}

async fn pump<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, bytes: usize) -> std::io::Result<()> {
    let chunk = vec![0x5a; CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(CHUNK);
        w.write_all(&chunk[..n]).await?;
        left -= n;
    }
    w.shutdown().await
}

async fn drain<R: tokio::io::AsyncRead + Unpin>(r: &mut R) -> std::io::Result<usize> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0;
    loop {
        let k = r.read(&mut buf).await?;
        if k == 0 {
            return Ok(n);
        }
        n += k;
    }
}

/// `streams` streams, each moving `bytes` from the dialer (up) or to it (down).
async fn run(imp: Implementation, up: bool, streams: usize, bytes: usize) -> Result<f64, Error> {
    let (c, s) = noise_pair().await?;
    let cfg = Config { implementation: imp, ..Config::default() };
    let client = cfg.start(Box::new(c), Role::Initiator);
    let mut server = cfg.start(Box::new(s), Role::Responder);
    tokio::spawn(client.driver);
    tokio::spawn(server.driver);
    let srv = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let Some(inc) = server.inbound.recv().await else { break };
            let mut io = inc.io;
            tasks.push(tokio::spawn(async move {
                let mut go = [0u8; 1];
                io.read_exact(&mut go).await?;
                if up { drain(&mut io).await.map(|_| ()) } else { pump(&mut io, bytes).await }
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok::<_, Error>(server.control)
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let control = client.control.clone();
        tasks.push(tokio::spawn(async move {
            let mut io = control.open_stream().await?;
            io.write_all(&[1]).await?;
            io.flush().await?;
            if up {
                pump(&mut io, bytes).await?;
                drain(&mut io).await?;
            } else {
                let n = drain(&mut io).await?;
                assert_eq!(n, bytes);
                io.shutdown().await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let rate = (streams * bytes) as f64 / start.elapsed().as_secs_f64() / 1e6;
    let _server_control = srv.await??;
    client.control.close().await;
    Ok(rate)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mib: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let bytes = mib << 20;
    let only = std::env::args().nth(2);
    let imps: Vec<Implementation> = match only.as_deref() {
        Some("own") => vec![Implementation::Own],
        Some("crate") => vec![Implementation::Crate],
        _ => vec![Implementation::Own, Implementation::Crate, Implementation::Own, Implementation::Crate],
    };
    for (name, up, streams, each) in
        [("1 stream up", true, 1, bytes), ("1 stream down", false, 1, bytes), ("16 streams up", true, 16, bytes / 16)]
    {
        let mut line = format!("{name:>14}:");
        for &imp in &imps {
            let r = run(imp, up, streams, each).await?;
            line += &format!("  {imp:?} {r:7.1} MB/s");
        }
        println!("{line}");
    }
    Ok(())
}
