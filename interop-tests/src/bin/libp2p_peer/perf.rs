//! `/perf/1.0.0` (libp2p/specs perf/perf.md) on libp2p-stream.
//!
//! crates.io `libp2p-perf` (0.3.0, the newest) is built on libp2p 0.53 and cannot
//! share a swarm with libp2p 0.57, so this peer speaks the spec itself, on the same
//! libp2p 0.57 connections (TCP + noise + yamux): the client sends the number of
//! bytes it wants back as a big-endian u64, then its upload, then closes its write
//! side and reads to EOF; the server reads to EOF, sends the bytes asked for and
//! closes. Both sides move 64 KiB blocks, as libp2p-perf does.

use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{PeerId, Stream, StreamProtocol, Swarm};
use serde_json::json;

use crate::{Behaviour, emit};

pub(crate) const PERF_PROTOCOL: StreamProtocol = StreamProtocol::new("/perf/1.0.0");
const BLOCK: usize = 64 * 1024;

/// What one side moved on one perf stream.
struct Counts {
    received: u64,
    sent: u64,
}

/// Serves `/perf/1.0.0`; prints a `perf_served` line per finished stream.
pub(crate) fn serve_perf(swarm: &Swarm<Behaviour>) -> anyhow::Result<()> {
    let mut incoming =
        swarm.behaviour().stream.new_control().accept(PERF_PROTOCOL).map_err(|e| anyhow!("registering {PERF_PROTOCOL}: {e}"))?;
    tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            tokio::spawn(async move {
                match respond(stream).await {
                    Ok(c) => emit("perf_served", json!({"peer_id": peer.to_string(), "received_bytes": c.received, "sent_bytes": c.sent})),
                    Err(e) => eprintln!("perf: stream from {peer} failed: {e:#}"),
                }
            });
        }
    });
    Ok(())
}

async fn respond(mut stream: Stream) -> anyhow::Result<Counts> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await.context("reading the requested length")?;
    let to_send = u64::from_be_bytes(header);
    let mut buf = vec![0u8; BLOCK];
    let mut received = 0u64;
    loop {
        let n = stream.read(&mut buf).await.context("reading the upload")?;
        if n == 0 {
            break;
        }
        received += n as u64;
    }
    let sent = send_zeros(&mut stream, &buf, to_send).await.context("sending the download")?;
    stream.close().await.context("closing")?;
    Ok(Counts { received, sent })
}

async fn send_zeros(stream: &mut Stream, block: &[u8], mut left: u64) -> std::io::Result<u64> {
    let total = left;
    while left > 0 {
        let n = usize::try_from(left).map_or(block.len(), |l| l.min(block.len()));
        stream.write_all(&block[..n]).await?;
        left -= n as u64;
    }
    stream.flush().await?;
    Ok(total)
}

/// The client: one stream, `upload` bytes up, `download` bytes down; prints `perf`.
pub(crate) async fn perf_test(control: &mut libp2p_stream::Control, remote: PeerId, upload: u64, download: u64) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut stream = control.open_stream(remote, PERF_PROTOCOL).await.map_err(|e| anyhow!("perf: {e}"))?;
    stream.write_all(&download.to_be_bytes()).await.context("perf: write the requested length")?;
    let block = vec![0u8; BLOCK];
    let sent = send_zeros(&mut stream, &block, upload).await.context("perf: upload")?;
    stream.close().await.context("perf: half-close")?;
    let upload_seconds = start.elapsed().as_secs_f64();
    let mut buf = block;
    let mut received = 0u64;
    loop {
        let n = stream.read(&mut buf).await.context("perf: download")?;
        if n == 0 {
            break;
        }
        received += n as u64;
        if received > download {
            bail!("perf: received more than the {download} bytes asked for");
        }
    }
    if received != download {
        bail!("perf: asked for {download} bytes, received {received}");
    }
    let total = start.elapsed().as_secs_f64();
    emit(
        "perf",
        json!({
            "ok": true, "peer_id": remote.to_string(), "upload_bytes": sent, "download_bytes": received,
            "total_seconds": total, "upload_seconds": upload_seconds, "download_seconds": total - upload_seconds,
        }),
    );
    Ok(())
}
