//! Inbound connections being upgraded: bounded, and defended against floods.
//!
//! A pending inbound connection costs a socket and a task until its handshake ends,
//! so a peer that connects and sends nothing (or trickles bytes) could hold every
//! slot for the whole upgrade timeout. Two defences:
//! - a connection that sends no byte within `first_byte_timeout` is dropped;
//! - when every slot is taken, a new connection takes the slot of the pending
//!   connection that made progress least recently, chosen among the source address
//!   holding the most slots. A handshake in progress receives bytes every round
//!   trip, so an honest dialer is never the one evicted by silent or stalled ones,
//!   and no single source can keep the pool from everyone else.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use rhizome_core::multiaddr::Protocol;
use rhizome_core::{BoxIo, Multiaddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// When a pending connection last received a byte.
#[derive(Debug)]
pub(crate) struct Progress {
    epoch: Instant,
    /// Milliseconds since `epoch` of the last byte received; 0 = none yet.
    last_ms: AtomicU64,
}

impl Progress {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis().max(1);
        self.last_ms.store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Whether any byte arrived.
    pub(crate) fn any(&self) -> bool {
        self.last_ms.load(Ordering::Relaxed) != 0
    }
}

struct Entry {
    ip: Option<IpAddr>,
    accepted_ms: u64,
    progress: Arc<Progress>,
    cancel: CancellationToken,
}

impl Entry {
    /// Milliseconds since the epoch of the last sign of life.
    fn last_activity(&self) -> u64 {
        self.progress.last_ms.load(Ordering::Relaxed).max(self.accepted_ms)
    }
}

/// The pending inbound connections.
pub(crate) struct PendingInbound {
    epoch: Instant,
    entries: HashMap<u64, Entry>,
}

impl Default for PendingInbound {
    fn default() -> Self {
        Self { epoch: Instant::now(), entries: HashMap::new() }
    }
}

/// A pending slot, given back when dropped.
pub(crate) struct Slot {
    pub(crate) progress: Arc<Progress>,
    /// Cancelled when the slot is taken by a newer connection.
    pub(crate) evicted: CancellationToken,
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl PendingInbound {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes a slot for connection `id` from `remote`; at `max`, evicts the least
    /// active connection of the source holding the most slots (returns whether it
    /// had to).
    pub(crate) fn admit(&mut self, id: u64, remote: &Multiaddr, max: Option<usize>) -> (Slot, bool) {
        let mut evicted = false;
        if max.is_some_and(|max| self.entries.len() >= max.max(1)) {
            evicted = self.evict_one();
        }
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        let progress = Arc::new(Progress { epoch: self.epoch, last_ms: AtomicU64::new(0) });
        let cancel = CancellationToken::new();
        let entry = Entry { ip: ip_of(remote), accepted_ms: now_ms, progress: progress.clone(), cancel: cancel.clone() };
        self.entries.insert(id, entry);
        (Slot { progress, evicted: cancel }, evicted)
    }

    fn evict_one(&mut self) -> bool {
        let mut per_ip: HashMap<Option<IpAddr>, usize> = HashMap::new();
        for e in self.entries.values() {
            *per_ip.entry(e.ip).or_default() += 1;
        }
        let Some((&busiest, _)) = per_ip.iter().max_by_key(|(_, n)| **n) else { return false };
        let victim = self.entries.iter().filter(|(_, e)| e.ip == busiest).min_by_key(|(_, e)| e.last_activity()).map(|(id, _)| *id);
        match victim.and_then(|id| self.entries.remove(&id)) {
            Some(entry) => {
                entry.cancel.cancel();
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&mut self, id: u64) {
        self.entries.remove(&id);
    }
}

/// Records every byte received on a pending connection (a sign of life).
pub(crate) struct ProgressIo {
    inner: BoxIo,
    progress: Arc<Progress>,
}

impl ProgressIo {
    pub(crate) fn new(inner: BoxIo, progress: Arc<Progress>) -> Self {
        Self { inner, progress }
    }
}

impl AsyncRead for ProgressIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.progress.touch();
        }
        polled
    }
}

impl AsyncWrite for ProgressIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/1").parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn evicts_the_least_active_of_the_busiest_source() {
        let mut p = PendingInbound::default();
        let (silent, _) = p.admit(1, &addr("127.0.0.1"), Some(3));
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        let (talking, _) = p.admit(2, &addr("127.0.0.1"), Some(3));
        let (other, _) = p.admit(3, &addr("127.0.0.2"), Some(3));
        tokio::time::advance(std::time::Duration::from_millis(10)).await;
        talking.progress.touch();
        // Full: the newcomer evicts from 127.0.0.1 (2 slots), its least active one.
        let (_new, evicted) = p.admit(4, &addr("127.0.0.3"), Some(3));
        assert!(evicted);
        assert!(silent.evicted.is_cancelled());
        assert!(!talking.evicted.is_cancelled() && !other.evicted.is_cancelled());
        assert_eq!(p.len(), 3);
    }
}
