//! The same bytes through each layer alone: raw TCP, TCP + Noise (our handshake and
//! `NoiseStream` over a `TcpStream`), TCP + Noise + yamux (no multistream, no swarm),
//! and bare ChaCha20-Poly1305 loops (seal; seal + open), with the CPU raw TCP costs
//! per byte, from which `main` computes the ceiling for one encrypted stream.

use std::time::Instant;

use anyhow::Context as _;
use rhizome::KeypairExt as _;
use rhizome::core::{MuxedConnection, Muxer as _, Role};
use rhizome::noise::{MAX_PLAINTEXT_LEN, NoiseStream, handshake_inbound, handshake_outbound};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use crate::Dir;

/// A connected pair of TCP streams on 127.0.0.1 (dialer, listener side).
async fn tcp_pair() -> anyhow::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let (c, s) = tokio::try_join!(TcpStream::connect(listener.local_addr()?), async { Ok(listener.accept().await?.0) })?;
    c.set_nodelay(true)?;
    s.set_nodelay(true)?;
    Ok((c, s))
}

/// Runs one transfer of `bytes` in `dir` over a connected pair; bytes per second.
/// Both ends run as runtime tasks, as in the full-stack rows.
pub(crate) async fn over<C, S>(client: C, server: S, dir: Dir, bytes: u64) -> anyhow::Result<f64>
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut server = server;
    let task = tokio::spawn(async move { crate::serve(&mut server, dir).await });
    let rate = crate::spawned_transfer(client, dir, bytes).await?;
    task.await??;
    Ok(rate)
}

/// CPU time this process's threads have run so far, in nanoseconds, user and kernel
/// (the first field of every `/proc/self/task/*/schedstat`; 0 where that is missing).
pub(crate) fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0 };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// Raw TCP: bytes per second, and the CPU both ends spent per byte, user and kernel (ns).
pub(crate) async fn tcp_cpu(dir: Dir, bytes: u64) -> anyhow::Result<(f64, f64)> {
    let (c, s) = tcp_pair().await?;
    let before = cpu_ns();
    let rate = over(c, s, dir, bytes).await?;
    Ok((rate, cpu_ns().saturating_sub(before) as f64 / bytes as f64))
}

/// A Noise session over a TCP pair (dialer, listener side).
async fn noise_pair() -> anyhow::Result<(NoiseStream<TcpStream>, NoiseStream<TcpStream>)> {
    let (c, s) = tcp_pair().await?;
    let (kc, ks) = (rhizome::Keypair::from_seed([21; 32]), rhizome::Keypair::from_seed([22; 32]));
    let ((_, c), (_, s)) = tokio::try_join!(handshake_outbound(c, &kc, None, &[]), handshake_inbound(s, &ks, &[]))?;
    Ok((c, s))
}

/// TCP + Noise, no multistream, no yamux.
pub(crate) async fn noise(dir: Dir, bytes: u64) -> anyhow::Result<f64> {
    let (c, s) = noise_pair().await?;
    over(c, s, dir, bytes).await
}

/// TCP + Noise + yamux (our `rhizome_yamux` on the Noise session), one stream, no
/// multistream-select and no swarm.
pub(crate) async fn yamux(dir: Dir, bytes: u64) -> anyhow::Result<f64> {
    let (c, s) = noise_pair().await?;
    let cfg = rhizome::yamux::Config::default();
    let client = cfg.start(Box::new(c), Role::Initiator);
    let MuxedConnection { control: _server_control, mut inbound, driver } = cfg.start(Box::new(s), Role::Responder);
    tokio::spawn(client.driver);
    tokio::spawn(driver);
    let task = tokio::spawn(async move {
        let mut s = inbound.recv().await.context("no inbound stream")?;
        crate::serve(&mut s.io, dir).await?;
        anyhow::Ok(())
    });
    let stream = client.control.open_stream().await?;
    let rate = crate::spawned_transfer(stream, dir, bytes).await?;
    task.await??;
    client.control.close().await;
    Ok(rate)
}

/// Seals `bytes` in Noise-sized frames with ChaCha20-Poly1305 (ring, in place, as
/// `NoiseStream` does), one core; with `open`, opens each frame again too (the work one
/// byte of an encrypted stream costs its two ends). Bytes per second.
pub(crate) fn chacha(bytes: u64, open: bool) -> anyhow::Result<f64> {
    use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    let key = || UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).map_err(|e| anyhow::anyhow!("{e}"));
    let (sealer, opener) = (LessSafeKey::new(key()?), LessSafeKey::new(key()?));
    let mut frame = vec![0x5a; MAX_PLAINTEXT_LEN + 16];
    let start = Instant::now();
    let (mut left, mut nonce) = (bytes, 0u64);
    while left > 0 {
        let n = left.min(MAX_PLAINTEXT_LEN as u64) as usize;
        let mut iv = [0u8; 12];
        iv[4..].copy_from_slice(&nonce.to_le_bytes());
        let tag = sealer
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut frame[..n])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        frame[n..n + 16].copy_from_slice(tag.as_ref());
        if open {
            let plain = opener
                .open_in_place(Nonce::assume_unique_for_key(iv), Aad::empty(), &mut frame[..n + 16])
                .map_err(|e| anyhow::anyhow!("open: {e}"))?;
            std::hint::black_box(plain.len());
        }
        nonce += 1;
        left -= n as u64;
    }
    Ok(bytes as f64 / start.elapsed().as_secs_f64())
}
