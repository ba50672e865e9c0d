//! What the swarm knows about a connection, and the handle that opens streams on it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rhizome_core::{Multiaddr, MuxControl, PeerId, StreamNaming};
use tokio::sync::Notify;

/// Identifies a connection within one swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) u64);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Identifies a listener within one swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub(crate) u64);

impl fmt::Display for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "l{}", self.0)
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// They dialed us.
    Inbound,
    /// We dialed them.
    Outbound,
}

/// Facts about an established connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The connection id.
    pub id: ConnectionId,
    /// The authenticated remote peer.
    pub peer: PeerId,
    /// Our address on the connection.
    pub local_addr: Multiaddr,
    /// The remote address (for inbound connections: where it came from).
    pub remote_addr: Multiaddr,
    /// Who dialed.
    pub direction: Direction,
    /// How its streams are named: negotiated (TCP + Noise + yamux), named by the
    /// muxer, or a single stream.
    pub naming: StreamNaming,
    /// The transport or service it came through (`"tcp"`, `"memory"`, `"hyperswarm"`…).
    pub transport: &'static str,
}

/// An established connection: its facts plus the handle that opens streams on it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// Shared by every clone (the pool's, the serving task's, each stream's).
    pub(crate) info: Arc<ConnectionInfo>,
    pub(crate) established: tokio::time::Instant,
    pub(crate) control: MuxControl,
    pub(crate) streams: Arc<StreamCounter>,
}

impl Connection {
    /// Facts about the connection.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The remote peer.
    pub fn peer(&self) -> PeerId {
        self.info.peer
    }

    /// The connection id.
    pub fn id(&self) -> ConnectionId {
        self.info.id
    }

    /// Streams currently open on the connection (both directions).
    pub fn open_streams(&self) -> usize {
        self.streams.count()
    }

    /// Whether we can open streams on it (every connection but a single-stream one).
    pub fn can_open_streams(&self) -> bool {
        self.info.naming != StreamNaming::Single
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }

    /// Waits until the connection has ended (closed by either side).
    pub async fn closed(&self) {
        self.control.closed().await
    }

    /// Closes the connection gracefully (yamux GoAway) and waits for it to end.
    pub async fn close(&self) {
        self.control.close().await
    }
}

/// Tracks the open streams of one connection for the idle policy: a counter and a
/// notification on every change (about 80 bytes; a `watch` channel here was 350).
#[derive(Debug, Default)]
pub(crate) struct StreamCounter {
    open: AtomicUsize,
    changed: Notify,
}

impl StreamCounter {
    pub(crate) fn open(self: &Arc<Self>) -> StreamGuard {
        self.open.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_waiters();
        StreamGuard { counter: self.clone() }
    }

    pub(crate) fn count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Resolves once the connection has had no open stream for `idle` without a break.
    pub(crate) async fn idle_for(&self, idle: std::time::Duration) {
        loop {
            // Registered before the count is read, so no change is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.count() > 0 {
                changed.await;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(idle) => return,
                _ = changed => {}
            }
        }
    }
}

/// Counts one open stream until dropped.
#[derive(Debug)]
pub(crate) struct StreamGuard {
    counter: Arc<StreamCounter>,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        // Never below zero: each guard adds one before it exists.
        self.counter.open.fetch_sub(1, Ordering::AcqRel);
        self.counter.changed.notify_waiters();
    }
}
