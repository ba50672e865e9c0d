//! The tokio shell: one UDP socket, a driver task that feeds every stream's
//! [`Connection`] and sends what it produces, and a bounded queue of the
//! datagrams that are not UDX (DHT traffic).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Instant;

use bytes::Bytes;
use thiserror::Error;
use tokio::net::{ToSocketAddrs, UdpSocket};
use tokio::sync::{Notify, mpsc};

use crate::header::peek_stream_id;
use crate::proto::{CloseReason, Config, Connection};
use crate::rng::Rng;
use crate::stream::Stream;

mod batch_io;
mod driver;

/// Socket settings (`udx::SocketConfig`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SocketConfig {
    /// Settings of every stream on this socket.
    pub stream: Config,
    /// Non-UDX datagrams queued for [`Socket::recv_raw`] before new ones are
    /// dropped (default 1024).
    pub raw_queue: usize,
    /// Streams per socket (default 4096).
    pub max_streams: usize,
    /// Kernel socket buffer sizes requested, in bytes (default 4 MiB).
    pub socket_buffer: usize,
    /// Loss injection for tests (default none).
    pub loss: Option<LossConfig>,
}

impl Default for SocketConfig {
    fn default() -> Self {
        SocketConfig { stream: Config::default(), raw_queue: 1024, max_streams: 4096, socket_buffer: 4 * 1024 * 1024, loss: None }
    }
}

/// Test hook: drop UDX datagrams at random with a seeded RNG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossConfig {
    /// RNG seed.
    pub seed: u64,
    /// Probability an outgoing UDX datagram is dropped.
    pub outgoing: f64,
    /// Probability an incoming UDX datagram is dropped.
    pub incoming: f64,
}

/// A datagram that is not for any UDX stream of this socket.
#[derive(Debug, Clone)]
pub struct RawDatagram {
    /// The bytes.
    pub data: Bytes,
    /// Where it came from.
    pub from: SocketAddr,
}

/// Binding failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BindError {
    /// The OS refused.
    #[error("binding the UDP socket failed")]
    Io(#[source] io::Error),
}

/// Creating or connecting a stream failed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// Another stream on this socket has the id.
    #[error("stream id {0} is in use on this socket")]
    IdInUse(u32),
    /// `max_streams` reached.
    #[error("too many streams on this socket")]
    TooManyStreams,
    /// `connect` was already called.
    #[error("stream already connected")]
    AlreadyConnected,
    /// The stream or its socket is closed.
    #[error("stream closed")]
    Closed,
}

/// One stream's state, shared by its [`Stream`] handle and the driver.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub(crate) conn: Connection,
    pub(crate) remote: Option<SocketAddr>,
    /// Where the first packet came from while not yet connected (udx-native's firewall hook).
    pub(crate) first_from: Option<SocketAddr>,
    pub(crate) read_waker: Option<Waker>,
    pub(crate) write_waker: Option<Waker>,
    pub(crate) handle_dropped: bool,
    /// The deadline registered in `Inner::timers` (driver only).
    pub(crate) scheduled: Option<Instant>,
}

impl StreamState {
    pub(crate) fn wake(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

pub(crate) type SharedStream = Arc<Mutex<StreamState>>;

/// Locks, ignoring poisoning (state stays consistent: no code panics under it).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) udp: UdpSocket,
    pub(crate) state: quinn_udp::UdpSocketState,
    pub(crate) streams: Mutex<HashMap<u32, SharedStream>>,
    /// Streams the driver must look at (at most one entry per stream).
    pub(crate) dirty: Mutex<HashSet<u32>>,
    /// One `(deadline, id)` per stream with a timer armed.
    pub(crate) timers: Mutex<BTreeSet<(Instant, u32)>>,
    pub(crate) raw_tx: mpsc::Sender<RawDatagram>,
    raw_rx: tokio::sync::Mutex<mpsc::Receiver<RawDatagram>>,
    pub(crate) wake: Notify,
    pub(crate) shutdown: AtomicBool,
    pub(crate) loss: Mutex<Option<(LossConfig, Rng)>>,
    pub(crate) raw_dropped: AtomicU64,
    config: SocketConfig,
}

impl Inner {
    /// Whether the loss hook drops this datagram.
    pub(crate) fn inject_loss(&self, outgoing: bool) -> bool {
        let mut l = lock(&self.loss);
        let Some((cfg, rng)) = l.as_mut() else { return false };
        let p = if outgoing { cfg.outgoing } else { cfg.incoming };
        rng.chance(p)
    }

    /// Asks the driver to flush stream `id`.
    pub(crate) fn mark(&self, id: u32) {
        lock(&self.dirty).insert(id);
        self.wake.notify_one();
    }

    pub(crate) fn stream_for(&self, datagram: &[u8]) -> Option<SharedStream> {
        let id = peek_stream_id(datagram)?;
        lock(&self.streams).get(&id).cloned()
    }
}

/// Keeps the driver alive; the last handle stops it.
#[derive(Debug)]
pub(crate) struct Handle(pub(crate) Arc<Inner>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.shutdown.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

/// A UDP socket carrying UDX streams and other datagrams (`udx::Socket`).
/// Cloning shares it; it closes when the last clone and the last stream drop.
#[derive(Debug, Clone)]
pub struct Socket {
    handle: Arc<Handle>,
}

impl Socket {
    /// Binds with the default [`SocketConfig`].
    pub async fn bind(addr: impl ToSocketAddrs) -> Result<Socket, BindError> {
        Socket::bind_with(addr, SocketConfig::default()).await
    }

    /// Binds and starts the driver task (needs a tokio runtime).
    pub async fn bind_with(addr: impl ToSocketAddrs, config: SocketConfig) -> Result<Socket, BindError> {
        let udp = UdpSocket::bind(addr).await.map_err(BindError::Io)?;
        let state = quinn_udp::UdpSocketState::new((&udp).into()).map_err(BindError::Io)?;
        let sock = socket2::SockRef::from(&udp);
        // Best effort: the kernel caps these at rmem_max/wmem_max.
        let _ = sock.set_recv_buffer_size(config.socket_buffer);
        let _ = sock.set_send_buffer_size(config.socket_buffer);
        let (raw_tx, raw_rx) = mpsc::channel(config.raw_queue.max(1));
        let inner = Arc::new(Inner {
            udp,
            state,
            streams: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            timers: Mutex::new(BTreeSet::new()),
            raw_tx,
            raw_rx: tokio::sync::Mutex::new(raw_rx),
            wake: Notify::new(),
            shutdown: AtomicBool::new(false),
            loss: Mutex::new(config.loss.map(|l| (l, Rng::new(l.seed)))),
            raw_dropped: AtomicU64::new(0),
            config,
        });
        tracing::debug!(addr = ?inner.udp.local_addr().ok(), gso = inner.state.max_gso_segments(), gro = inner.state.gro_segments(), "udx: socket bound");
        tokio::spawn(driver::run(inner.clone()));
        Ok(Socket { handle: Arc::new(Handle(inner)) })
    }

    fn inner(&self) -> &Arc<Inner> {
        &self.handle.0
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner().udp.local_addr()
    }

    /// Creates stream `local_id` (not yet connected; it buffers early data).
    pub fn stream(&self, local_id: u32) -> Result<Stream, StreamError> {
        let inner = self.inner();
        let mut streams = lock(&inner.streams);
        if streams.contains_key(&local_id) {
            return Err(StreamError::IdInUse(local_id));
        }
        if streams.len() >= inner.config.max_streams {
            return Err(StreamError::TooManyStreams);
        }
        let conn = Connection::new(local_id, inner.config.stream.clone(), Instant::now());
        let state = Arc::new(Mutex::new(StreamState {
            conn,
            remote: None,
            first_from: None,
            read_waker: None,
            write_waker: None,
            handle_dropped: false,
            scheduled: None,
        }));
        streams.insert(local_id, state.clone());
        Ok(Stream::new(self.handle.clone(), state, local_id))
    }

    /// Next datagram that was not for a UDX stream (`None` once closed).
    pub async fn recv_raw(&self) -> Option<RawDatagram> {
        self.inner().raw_rx.lock().await.recv().await
    }

    /// Sends a datagram on the same socket (for the DHT layer).
    pub async fn send_raw(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        self.inner().udp.send_to(data, to).await
    }

    /// Non-UDX datagrams dropped because the raw queue was full.
    pub fn raw_dropped(&self) -> u64 {
        self.inner().raw_dropped.load(Ordering::Relaxed)
    }

    /// Changes the loss-injection hook at run time (tests).
    pub fn set_loss(&self, loss: Option<LossConfig>) {
        *lock(&self.inner().loss) = loss.map(|l| (l, Rng::new(l.seed)));
    }
}

/// Why a closed stream's I/O fails.
pub(crate) fn close_error(reason: CloseReason) -> io::Error {
    let kind = match reason {
        CloseReason::Reset => io::ErrorKind::ConnectionReset,
        CloseReason::TimedOut => io::ErrorKind::TimedOut,
        _ => io::ErrorKind::BrokenPipe,
    };
    io::Error::new(kind, format!("udx stream closed: {reason:?}"))
}
