//! The transferred bytes and their check.

use anyhow::{Context, ensure};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;

/// Deterministic, incompressible-looking bytes (xorshift64*).
fn fill(buf: &mut [u8], state: &mut u64) {
    for b in buf.chunks_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
        b.copy_from_slice(&v[..b.len()]);
    }
}

/// Sends `len` bytes, half-closes, reads the 32-byte SHA-256 answer and checks it.
pub(crate) async fn send<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, len: usize) -> anyhow::Result<usize> {
    let mut hasher = Sha256::new();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; CHUNK];
    let mut sent = 0;
    while sent < len {
        let n = CHUNK.min(len - sent);
        fill(&mut buf[..n], &mut state);
        hasher.update(&buf[..n]);
        stream.write_all(&buf[..n]).await.with_context(|| format!("writing at byte {sent}"))?;
        sent += n;
    }
    stream.shutdown().await.context("closing the write half")?;
    let mut answer = [0u8; 32];
    stream.read_exact(&mut answer).await.context("reading the receiver's hash")?;
    ensure!(answer[..] == hasher.finalize()[..], "hash mismatch: the receiver got different bytes");
    Ok(sent)
}

/// Reads to EOF, answers with the SHA-256 of what arrived, half-closes.
pub(crate) async fn answer<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> anyhow::Result<usize> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0;
    loop {
        let n = stream.read(&mut buf).await.with_context(|| format!("reading at byte {got}"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        got += n;
    }
    stream.write_all(&hasher.finalize()).await.context("writing the hash")?;
    stream.shutdown().await.context("closing the write half")?;
    Ok(got)
}
