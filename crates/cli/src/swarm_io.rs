//! What `rhizome swarm serve` does with a connection (echo, perf) and the step
//! `rhizome swarm join` runs on one.
//!
//! Perf: a connection that starts with `PERF` + u64 big-endian N + u64 big-endian U
//! sends U more bytes, then receives N bytes from the server.

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// The perf header: magic, download bytes, upload bytes.
pub const PERF_MAGIC: &[u8; 4] = b"PERF";
const PERF_HEADER: usize = 20;
const CHUNK: usize = 64 * 1024;

/// Serves one connection: perf when it starts with `PERF`, else echo (with `echo`) or
/// drain.
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, echo: bool) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(PERF_HEADER);
    let mut buf = vec![0u8; CHUNK];
    // Read until the bytes cannot be a perf header any more, or the header is complete.
    while head.len() < PERF_HEADER {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return s.shutdown().await;
        }
        head.extend_from_slice(&buf[..n]);
        let k = head.len().min(PERF_MAGIC.len());
        if head[..k] != PERF_MAGIC[..k] {
            break;
        }
    }
    if head.len() >= PERF_HEADER && head.starts_with(PERF_MAGIC) {
        let down = u64::from_be_bytes(head[4..12].try_into().unwrap_or_default());
        let up = u64::from_be_bytes(head[12..20].try_into().unwrap_or_default());
        let mut left = up.saturating_sub((head.len() - PERF_HEADER) as u64);
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = s.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            left -= n as u64;
        }
        send_pattern(&mut s, down).await?;
        s.flush().await?;
        // Wait for the client to close (it may still be reading our last frames).
        let _ = s.read(&mut buf).await;
        return s.shutdown().await;
    }
    if !echo {
        while s.read(&mut buf).await? > 0 {}
        return s.shutdown().await;
    }
    s.write_all(&head).await?;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return s.shutdown().await;
        }
        s.write_all(&buf[..n]).await?;
    }
}

/// Byte `i` of a perf transfer.
fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

async fn send_pattern<S: AsyncWrite + Unpin>(s: &mut S, len: u64) -> std::io::Result<()> {
    let mut chunk = vec![0u8; CHUNK];
    let mut sent = 0u64;
    while sent < len {
        let n = chunk.len().min(usize::try_from(len - sent).unwrap_or(usize::MAX));
        for (j, b) in chunk[..n].iter_mut().enumerate() {
            *b = pattern_byte(sent + j as u64);
        }
        s.write_all(&chunk[..n]).await?;
        sent += n as u64;
    }
    Ok(())
}

/// What `swarm join` does once connected.
#[derive(Debug, Clone)]
pub enum Step {
    /// Nothing.
    None,
    /// Send these bytes and expect them back.
    Echo(Vec<u8>),
    /// Upload `up`, download `down`.
    Perf {
        /// Bytes to upload.
        up: u64,
        /// Bytes to download.
        down: u64,
    },
}

/// How a step went (an I/O error means the connection dropped: try the next one).
#[derive(Debug, Clone)]
pub enum StepResult {
    /// No step.
    None,
    /// Echo: whether the bytes came back intact.
    Echo {
        /// Intact.
        ok: bool,
        /// Bytes sent.
        bytes: usize,
    },
    /// Perf.
    Perf {
        /// Every byte moved (and the downloaded ones are the server's pattern).
        ok: bool,
        /// Bytes uploaded.
        up: u64,
        /// Bytes downloaded.
        down: u64,
        /// Duration.
        seconds: f64,
    },
}

/// Runs `step` on `s`.
pub async fn run_step<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, step: &Step) -> std::io::Result<StepResult> {
    match step {
        Step::None => Ok(StepResult::None),
        Step::Echo(text) => {
            s.write_all(text).await?;
            s.flush().await?;
            let mut back = vec![0u8; text.len()];
            s.read_exact(&mut back).await?;
            let _ = s.shutdown().await;
            Ok(StepResult::Echo { ok: &back == text, bytes: text.len() })
        }
        Step::Perf { up, down } => {
            let t = Instant::now();
            let mut header = PERF_MAGIC.to_vec();
            header.extend_from_slice(&down.to_be_bytes());
            header.extend_from_slice(&up.to_be_bytes());
            s.write_all(&header).await?;
            send_pattern(&mut s, *up).await?;
            s.flush().await?;
            let mut buf = vec![0u8; CHUNK];
            let (mut got, mut intact) = (0u64, true);
            while got < *down {
                let want = buf.len().min(usize::try_from(down - got).unwrap_or(usize::MAX));
                let n = s.read(&mut buf[..want]).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                intact &= buf[..n].iter().enumerate().all(|(j, b)| *b == pattern_byte(got + j as u64));
                got += n as u64;
            }
            let seconds = t.elapsed().as_secs_f64();
            let _ = s.shutdown().await;
            Ok(StepResult::Perf { ok: intact && got == *down, up: *up, down: got, seconds })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn perf_and_echo_against_our_server() {
        for (step, echo) in [(Step::Perf { up: 300_000, down: 200_000 }, false), (Step::Echo(b"hi".to_vec()), true)] {
            let (a, b) = tokio::io::duplex(4096);
            let server = tokio::spawn(serve_connection(b, echo));
            let r = tokio::time::timeout(std::time::Duration::from_secs(10), run_step(a, &step)).await.unwrap().unwrap();
            match r {
                StepResult::Perf { ok, up, down, .. } => assert!(ok && up == 300_000 && down == 200_000),
                StepResult::Echo { ok, bytes } => assert!(ok && bytes == 2),
                StepResult::None => panic!(),
            }
            let _ = server.await;
        }
    }
}
