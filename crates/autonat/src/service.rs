//! The service on a node: the server role as a stream handler, the client role as
//! one background task driving [`Client`], both stopping with the node.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::future::BoxFuture;
use rhizome_core::{Multiaddr, PeerId};
use rhizome_node::{ConnectionId, Direction, Event as NodeEvent, HandlerOpts, Node, OpenStreamError, Stream, StreamCtx, WeakNode};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug};

use crate::client::{Client, ClientConfig, NatStatus, Probe, ProbeResult, StatusChange};
use crate::message::{DialRequest, DialResponse, MAX_MESSAGE_SIZE, ResponseStatus, WireError, read_message, write_message};
use crate::server::{Limiter, ServerConfig, dialable_addrs};
use crate::{Event, PROTOCOL};

/// The clock: tokio's (so paused-time tests drive it), as a std `Instant`.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Service settings (`autonat::Config`).
///
/// | setting | default |
/// |---|---|
/// | `server` | `Some(ServerConfig::default())`: answer DIAL requests |
/// | `client` | `Some(ClientConfig::default())`: probe our reachability |
/// | `confirm_external` | true: `Public(addr)` confirms `addr` as an external address on the node, leaving `Public` removes it |
/// | `event_capacity` | 64 events buffered per subscriber |
/// | `max_inbound_streams` | 2 concurrent AutoNAT streams per connection |
#[derive(Debug, Clone)]
pub struct Config {
    /// The server role, if served.
    pub server: Option<ServerConfig>,
    /// The client role, if run.
    pub client: Option<ClientConfig>,
    /// Whether the verdict updates the node's confirmed external addresses.
    pub confirm_external: bool,
    /// Events buffered per subscriber.
    pub event_capacity: usize,
    /// Concurrent inbound streams per connection.
    pub max_inbound_streams: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: Some(ServerConfig::default()),
            client: Some(ClientConfig::default()),
            confirm_external: true,
            event_capacity: 64,
            max_inbound_streams: 2,
        }
    }
}

impl Config {
    /// Only the server role (default limits).
    pub fn server_only() -> Self {
        Self { client: None, ..Self::default() }
    }

    /// Only the client role (default schedule).
    pub fn client_only() -> Self {
        Self { server: None, ..Self::default() }
    }
}

/// Counters (`autonat::Stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests answered `OK`.
    pub served_ok: u64,
    /// Requests answered `E_DIAL_ERROR`.
    pub served_dial_error: u64,
    /// Requests answered `E_DIAL_REFUSED` (limits, no address on the observed IP).
    pub served_refused: u64,
    /// Requests answered `E_BAD_REQUEST` or `E_INTERNAL_ERROR`.
    pub served_bad: u64,
    /// Inbound streams dropped without an answer (over-size, garbage, timeout).
    pub malformed: u64,
    /// Probes sent.
    pub probes: u64,
    /// Probes that said nothing about us (failed, refused, unsupported).
    pub probes_failed: u64,
}

#[derive(Default)]
struct Counters {
    served_ok: AtomicU64,
    served_dial_error: AtomicU64,
    served_refused: AtomicU64,
    served_bad: AtomicU64,
    malformed: AtomicU64,
    probes: AtomicU64,
    probes_failed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) struct Inner {
    node: WeakNode,
    local: PeerId,
    config: Config,
    pub(crate) events: broadcast::Sender<Event>,
    client: Mutex<Client>,
    limiter: Mutex<Limiter>,
    wake: Notify,
    counters: Counters,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The AutoNAT service (`autonat::AutoNat`): a cheap handle; its task stops when the
/// node shuts down.
#[derive(Clone)]
pub struct AutoNat {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AutoNat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoNat").field("status", &self.status()).finish_non_exhaustive()
    }
}

impl AutoNat {
    /// Starts AutoNAT on `node`: serves `/libp2p/autonat/1.0.0` if `config.server`,
    /// and probes our reachability in the background if `config.client`.
    pub fn start(node: &Node, config: Config) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let client = Client::new(config.client.clone().unwrap_or_default(), now());
        let limiter = Limiter::new(config.server.clone().unwrap_or_default());
        let inner = Arc::new(Inner {
            node: node.downgrade(),
            local: node.id(),
            config,
            events,
            client: Mutex::new(client),
            limiter: Mutex::new(limiter),
            wake: Notify::new(),
            counters: Counters::default(),
        });
        if inner.config.server.is_some() {
            let served = inner.clone();
            let opts = HandlerOpts { max_inbound_streams: Some(inner.config.max_inbound_streams.max(1)) };
            node.handle_with(
                PROTOCOL,
                move |stream: Stream, ctx: StreamCtx| {
                    let inner = served.clone();
                    async move { inner.serve(stream, ctx).await }
                },
                opts,
            );
        }
        if inner.config.client.is_some() {
            {
                let mut c = lock(&inner.client);
                for info in node.connections().into_iter().filter(|c| c.naming.is_negotiated()) {
                    c.on_connected(info.peer, now());
                }
            }
            let task = inner.clone();
            let events = node.events();
            let stop = node.shutdown_token();
            tokio::spawn(async move { task.run_client(events, stop).await }.instrument(tracing::debug_span!("autonat_client")));
        }
        Self { inner }
    }

    /// Our status now.
    pub fn status(&self) -> NatStatus {
        lock(&self.inner.client).status().clone()
    }

    /// The confidence in it (0..=`confidence_max`).
    pub fn confidence(&self) -> usize {
        lock(&self.inner.client).confidence()
    }

    /// Subscribes to events (bounded; a slow receiver is told it lagged).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Adds an address to probe, e.g. one identify says a peer observed us at.
    pub fn add_candidate(&self, addr: Multiaddr) {
        lock(&self.inner.client).add_candidate(addr, now());
        self.inner.wake.notify_one();
    }

    /// Stops probing an address; if it was the public one, the status becomes
    /// `Unknown` (and the external address is removed).
    pub fn remove_candidate(&self, addr: &Multiaddr) {
        let change = lock(&self.inner.client).remove_candidate(addr, now());
        if let Some(change) = change {
            self.inner.apply(change);
        }
        self.inner.wake.notify_one();
    }

    /// Uses `peer` as a server even when not connected (it is dialed through the
    /// address book); false when too many servers are known.
    pub fn add_server(&self, peer: PeerId) -> bool {
        let added = lock(&self.inner.client).add_server(peer, now());
        self.inner.wake.notify_one();
        added
    }

    /// Probes as soon as a server and an address are available.
    pub fn probe_now(&self) {
        lock(&self.inner.client).probe_soon(now());
        self.inner.wake.notify_one();
    }

    #[cfg(feature = "kad")]
    pub(crate) fn inner_node(&self) -> Option<Node> {
        self.inner.node.upgrade()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            served_ok: get(&c.served_ok),
            served_dial_error: get(&c.served_dial_error),
            served_refused: get(&c.served_refused),
            served_bad: get(&c.served_bad),
            malformed: get(&c.malformed),
            probes: get(&c.probes),
            probes_failed: get(&c.probes_failed),
        }
    }
}

/// Why an inbound AutoNAT stream ended without an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The request was malformed on the wire (framing, protobuf), or the answer
    /// could not be written.
    #[error("autonat request")]
    Wire(#[from] WireError),
    /// The request did not arrive within `request_timeout`.
    #[error("no autonat request within the timeout")]
    Timeout,
}

/// What identifies the connections a dial-back made.
struct DialedBack {
    node: Node,
    before: HashSet<ConnectionId>,
    addrs: Vec<Multiaddr>,
}

/// Ends a dial-back in the limiter however the request ends.
struct Running<'a> {
    inner: &'a Inner,
    peer: PeerId,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        lock(&self.inner.limiter).finish(&self.peer);
    }
}

impl Inner {
    fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    async fn serve(&self, mut stream: Stream, ctx: StreamCtx) -> Result<(), ServeError> {
        let config = self.config.server.clone().unwrap_or_default();
        let msg = match tokio::time::timeout(config.request_timeout, read_message(&mut stream, MAX_MESSAGE_SIZE)).await {
            Ok(Ok(msg)) => msg,
            Ok(Err(e)) => {
                bump(&self.counters.malformed);
                debug!(peer = %ctx.peer, error = %e, "malformed autonat request");
                return Err(e.into());
            }
            Err(_) => {
                bump(&self.counters.malformed);
                return Err(ServeError::Timeout);
            }
        };
        let (response, dialed) = match DialRequest::from_message(msg) {
            Ok(request) => self.answer(request, &ctx, &config).await,
            Err(e) => (DialResponse::error(ResponseStatus::BadRequest, e.to_string()), None),
        };
        let counter = match response.status {
            ResponseStatus::Ok => &self.counters.served_ok,
            ResponseStatus::DialError => &self.counters.served_dial_error,
            ResponseStatus::DialRefused => &self.counters.served_refused,
            ResponseStatus::BadRequest | ResponseStatus::InternalError => &self.counters.served_bad,
        };
        bump(counter);
        debug!(peer = %ctx.peer, status = response.status.as_str(), text = ?response.text, "autonat request answered");
        self.emit(Event::InboundProbe { peer: ctx.peer, status: response.status, addr: response.addr.clone() });
        let written = write_message(&mut stream, &response.to_message()).await;
        // After answering, so that closing does not delay the response.
        if let Some(d) = dialed {
            close_dial_backs(&d.node, ctx.peer, &d.before, &d.addrs).await;
        }
        written?;
        Ok(())
    }

    /// Decides and, when admitted, dials back; also returns what identifies the
    /// dial-back connections, to close them.
    async fn answer(&self, request: DialRequest, ctx: &StreamCtx, config: &ServerConfig) -> (DialResponse, Option<DialedBack>) {
        if request.peer != ctx.peer {
            return (DialResponse::error(ResponseStatus::BadRequest, "peer id mismatch"), None);
        }
        let addrs = match dialable_addrs(ctx.peer, &ctx.remote_addr, &request.addrs, config.max_addrs) {
            Ok(a) => a,
            Err(r) => return (DialResponse::error(ResponseStatus::DialRefused, r.text()), None),
        };
        if let Err(r) = lock(&self.limiter).admit(ctx.peer, now()) {
            return (DialResponse::error(ResponseStatus::DialRefused, r.text()), None);
        }
        let _running = Running { inner: self, peer: ctx.peer };
        let Some(node) = ctx.node() else {
            return (DialResponse::error(ResponseStatus::InternalError, "shutting down"), None);
        };
        let before: HashSet<ConnectionId> = node.connections().iter().map(|c| c.id).collect();
        let dialed =
            tokio::time::timeout(config.dial_back_timeout, dial_any(&node, ctx.peer, addrs.clone(), config.dial_concurrency)).await;
        let response = match dialed {
            Ok(Some(addr)) => DialResponse::ok(addr),
            Ok(None) => DialResponse::error(ResponseStatus::DialError, "dial failed"),
            Err(_) => DialResponse::error(ResponseStatus::DialError, "dial-back timed out"),
        };
        (response, Some(DialedBack { node, before, addrs }))
    }

    async fn run_client(self: Arc<Self>, mut events: broadcast::Receiver<NodeEvent>, stop: CancellationToken) {
        let timeout = self.config.client.as_ref().map_or(Duration::from_secs(30), |c| c.timeout);
        let mut running: Option<BoxFuture<'static, (PeerId, ProbeResult)>> = None;
        loop {
            let deadline = {
                let Some(node) = self.node.upgrade() else { return };
                let mut client = lock(&self.client);
                let now = now();
                let change = client.set_listen_addrs(node.listen_addrs(), now);
                if running.is_none()
                    && let Some(probe) = client.poll(now)
                {
                    bump(&self.counters.probes);
                    debug!(server = %probe.server, addrs = ?probe.addrs, "autonat probe");
                    running = Some(Box::pin(probe_once(node.clone(), self.local, probe, timeout)));
                }
                let deadline = client.deadline();
                drop(client);
                if let Some(change) = change {
                    self.apply(change);
                }
                deadline
            };
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            let probe = async {
                match running.as_mut() {
                    Some(f) => f.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = sleep => {}
                (server, result) = probe => {
                    running = None;
                    if !matches!(result, ProbeResult::Reachable(_) | ProbeResult::Unreachable) {
                        bump(&self.counters.probes_failed);
                    }
                    let change = lock(&self.client).on_result(server, result.clone(), now());
                    debug!(%server, ?result, "autonat probe answered");
                    self.emit(Event::OutboundProbe { server, result });
                    if let Some(change) = change {
                        self.apply(change);
                    }
                }
                ev = events.recv() => match ev {
                    Ok(NodeEvent::Connected { info, .. }) if info.naming.is_negotiated() => lock(&self.client).on_connected(info.peer, now()),
                    Ok(NodeEvent::Disconnected { info, remaining: 0 }) => lock(&self.client).on_disconnected(&info.peer),
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        debug!(missed = n, "autonat fell behind node events");
                        if let Some(node) = self.node.upgrade() {
                            let mut client = lock(&self.client);
                            for info in node.connections().into_iter().filter(|c| c.naming.is_negotiated()) {
                                client.on_connected(info.peer, now());
                            }
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
            }
        }
    }

    /// Applies a status change to the node's external addresses, then tells
    /// subscribers.
    pub(crate) fn apply(&self, change: StatusChange) {
        debug!(old = ?change.old, new = ?change.new, "NAT status changed");
        if self.config.confirm_external
            && let Some(node) = self.node.upgrade()
        {
            if let NatStatus::Public(old) = &change.old
                && !matches!(&change.new, NatStatus::Public(new) if new == old)
            {
                node.remove_external_addr(old);
            }
            if let NatStatus::Public(new) = &change.new {
                node.add_external_addr(new.clone());
            }
        }
        self.emit(Event::StatusChanged { old: change.old, new: change.new });
    }
}

/// Dials `peer` at `addrs`, `concurrency` at a time, each on a new connection; the
/// first that reaches `peer` wins. A connection to another peer is a failure.
async fn dial_any(node: &Node, peer: PeerId, addrs: Vec<Multiaddr>, concurrency: usize) -> Option<Multiaddr> {
    let mut queue = addrs.into_iter();
    let mut running = futures::stream::FuturesUnordered::new();
    loop {
        while running.len() < concurrency.max(1) {
            let Some(addr) = queue.next() else { break };
            // No `/p2p/` on purpose: `dial` would reuse the connection the request
            // came on; a bare address makes a new one, authenticated by Noise.
            running.push(async move { (node.dial(addr.clone()).await, addr) });
        }
        let (result, addr) = running.next().await?;
        match result {
            Ok(p) if p == peer => return Some(addr),
            Ok(other) => debug!(%addr, %other, "dial-back reached another peer"),
            Err(e) => debug!(%addr, error = %e, "dial-back failed"),
        }
    }
}

/// Closes the connections the dial-back made: outbound ones to `peer`, at one of
/// `addrs`, that did not exist `before`. Otherwise they would idle for a minute and
/// count against the per-peer connection limit (4 by default) of both nodes. At most
/// `addrs.len() + 1` closes of [`CLOSE_TIMEOUT`] each.
async fn close_dial_backs(node: &Node, peer: PeerId, before: &HashSet<ConnectionId>, addrs: &[Multiaddr]) {
    // `connection_to` gives the newest open connection; each one closed is skipped
    // next time. Bounded: one round per address dialed, plus one.
    for _ in 0..=addrs.len() {
        let Some(conn) = node.connection_to(&peer) else { return };
        let info = conn.info();
        let ours = !before.contains(&info.id) && info.direction == Direction::Outbound && addrs.contains(&info.remote_addr);
        if !ours {
            return;
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, conn.close()).await;
    }
}

/// How long closing one dial-back connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One probe: open a stream, send the DIAL, read the DIAL_RESPONSE, within `timeout`.
async fn probe_once(node: Node, local: PeerId, probe: Probe, timeout: Duration) -> (PeerId, ProbeResult) {
    let server = probe.server;
    let exchange = async move {
        let mut stream = match node.open_stream(server, PROTOCOL.as_str()).await {
            Ok(s) => s,
            Err(OpenStreamError::UnsupportedProtocol(_)) => return ProbeResult::Unsupported,
            Err(e) => {
                debug!(%server, error = %e, "autonat stream failed");
                return ProbeResult::Failed;
            }
        };
        drop(node);
        let request = DialRequest { peer: local, addrs: probe.addrs };
        let response = async {
            write_message(&mut stream, &request.to_message()).await?;
            DialResponse::from_message(read_message(&mut stream, MAX_MESSAGE_SIZE).await?)
        };
        match response.await {
            Ok(DialResponse { status: ResponseStatus::Ok, addr: Some(addr), .. }) => ProbeResult::Reachable(addr),
            Ok(DialResponse { status: ResponseStatus::DialError, .. }) => ProbeResult::Unreachable,
            Ok(r) => {
                debug!(%server, status = r.status.as_str(), text = ?r.text, "autonat server did not probe");
                ProbeResult::Failed
            }
            Err(e) => {
                debug!(%server, error = %e, "autonat response");
                ProbeResult::Failed
            }
        }
    };
    (server, tokio::time::timeout(timeout, exchange).await.unwrap_or(ProbeResult::Failed))
}
