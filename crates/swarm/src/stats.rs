//! Counters for operators (exported by `rhizome-metrics` in the Prometheus format):
//! connections by direction and transport, streams by protocol, transport bytes,
//! handshake failures by cause and refusals by reason. All bounded: protocol labels
//! beyond [`MAX_PROTOCOL_LABELS`] count as `other`.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rhizome_core::{BoxIo, ProtocolId};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::connection::Direction;

/// Distinct protocols counted separately; the rest share the label `other`.
pub const MAX_PROTOCOL_LABELS: usize = 128;

/// Opened and closed counts of one kind of thing.
#[derive(Debug, Default)]
pub(crate) struct OpenClose {
    opened: AtomicU64,
    closed: AtomicU64,
}

impl OpenClose {
    pub(crate) fn open(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn close(&self) {
        self.closed.fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self) -> (u64, u64) {
        (self.opened.load(Ordering::Relaxed), self.closed.load(Ordering::Relaxed))
    }
}

/// Which way a stream was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamDirection {
    /// The remote opened it.
    Inbound,
    /// We opened it.
    Outbound,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    connections: Mutex<HashMap<(Direction, &'static str), Arc<OpenClose>>>,
    streams: Mutex<HashMap<(String, StreamDirection), Arc<OpenClose>>>,
    failures: Mutex<HashMap<&'static str, u64>>,
    refusals: Mutex<HashMap<&'static str, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Stats {
    pub(crate) fn connection(&self, dir: Direction, transport: &'static str) -> Arc<OpenClose> {
        // Bounded by the transports and services that exist.
        lock(&self.connections).entry((dir, transport)).or_default().clone()
    }

    pub(crate) fn stream(&self, protocol: &ProtocolId, dir: StreamDirection) -> Arc<OpenClose> {
        let mut streams = lock(&self.streams);
        let distinct = streams.len() / 2;
        let key = if streams.contains_key(&(protocol.as_str().to_owned(), dir)) || distinct < MAX_PROTOCOL_LABELS {
            protocol.as_str().to_owned()
        } else {
            "other".to_owned()
        };
        streams.entry((key, dir)).or_default().clone()
    }

    pub(crate) fn handshake_failure(&self, cause: &'static str) {
        *lock(&self.failures).entry(cause).or_default() += 1;
    }

    pub(crate) fn refusal(&self, reason: &'static str) {
        *lock(&self.refusals).entry(reason).or_default() += 1;
    }

    pub(crate) fn snapshot(&self, pending_inbound: usize) -> StatsSnapshot {
        let connections = lock(&self.connections)
            .iter()
            .map(|((direction, transport), c)| {
                let (opened, closed) = c.get();
                ConnectionStat { direction: *direction, transport, opened, closed }
            })
            .collect();
        let streams = lock(&self.streams)
            .iter()
            .map(|((protocol, direction), c)| {
                let (opened, closed) = c.get();
                StreamStat { protocol: protocol.clone(), direction: *direction, opened, closed }
            })
            .collect();
        StatsSnapshot {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            connections,
            streams,
            handshake_failures: lock(&self.failures).iter().map(|(k, v)| (*k, *v)).collect(),
            refusals: lock(&self.refusals).iter().map(|(k, v)| (*k, *v)).collect(),
            pending_inbound,
        }
    }
}

/// Connections of one direction and transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionStat {
    /// Who dialed.
    pub direction: Direction,
    /// The transport or service (`tcp`, `memory`, `secret-stream`…).
    pub transport: &'static str,
    /// Established so far.
    pub opened: u64,
    /// Closed so far.
    pub closed: u64,
}

/// Streams of one protocol and direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStat {
    /// The protocol (or `other`).
    pub protocol: String,
    /// Who opened them.
    pub direction: StreamDirection,
    /// Opened so far.
    pub opened: u64,
    /// Closed so far.
    pub closed: u64,
}

/// The swarm's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Bytes read from transport connections (before decryption).
    pub bytes_in: u64,
    /// Bytes written to transport connections.
    pub bytes_out: u64,
    /// Connections by direction and transport.
    pub connections: Vec<ConnectionStat>,
    /// Streams by protocol and direction.
    pub streams: Vec<StreamStat>,
    /// Failed connection upgrades by cause (`timeout`, `negotiation`, `security`,
    /// `wrong_peer`, `evicted`, `silent`).
    pub handshake_failures: Vec<(&'static str, u64)>,
    /// Connections refused, by reason (a limit, `admission`, `self`).
    pub refusals: Vec<(&'static str, u64)>,
    /// Inbound connections being upgraded now.
    pub pending_inbound: usize,
}

/// Counts the bytes through a transport connection.
pub(crate) struct CountingIo {
    inner: BoxIo,
    stats: Arc<Stats>,
}

impl CountingIo {
    pub(crate) fn wrap(inner: BoxIo, stats: Arc<Stats>) -> BoxIo {
        Box::new(Self { inner, stats })
    }
}

impl AsyncRead for CountingIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.stats.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.stats.bytes_out.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &polled {
            self.stats.bytes_out.fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
