//! [`Hyperswarm`]: the public handle, and the task that runs the [`SwarmCore`] against a
//! [`PeerNetwork`] and a Rhizome [`Node`].

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhizome_core::{Multiaddr, ProtocolId};
use rhizome_identity::KeypairExt as _;
use rhizome_node::{Direction, Node, WeakNode};
use rhizome_secret_stream::Keypair;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::conn::{ConnHandle, PeerConnection, Traffic};
use crate::core::{Action, ConnId, Firewall, Incoming, Limits, Stats, SwarmCore};
use crate::network::{NetworkError, PeerListener, PeerNetwork, PeerRecord, RawConnection};
use crate::peer_info::PeerInfo;
use crate::topics::{JoinOpts, JoinReply, Topics};

/// How often the listener's relay addresses are re-read for the next announces.
const RELAY_CHECK: Duration = Duration::from_secs(30);

/// Commands queued to the swarm task at most.
pub(crate) const COMMAND_QUEUE: usize = 256;

/// The swarm's settings.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Connection limits and retry backoffs.
    pub limits: Limits,
    /// Refuses (and bans) peers: `true` = firewalled, as Node's `firewall` option. With a
    /// node, its admission hook applies too (a refusal bans the peer).
    pub firewall: Option<Firewall>,
    /// Re-announce / re-lookup period of joined topics (Node: 10 min + up to 2 min jitter).
    pub refresh_interval: Duration,
    /// One outbound connection attempt at most.
    pub connect_timeout: Duration,
    /// Raw connections (topics joined without a protocol) waiting in
    /// [`Hyperswarm::connections`] at most; beyond, new ones are closed.
    pub connection_backlog: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            firewall: None,
            refresh_interval: Duration::from_secs(600),
            connect_timeout: Duration::from_secs(30),
            connection_backlog: 16,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config").field("limits", &self.limits).field("refresh_interval", &self.refresh_interval).finish_non_exhaustive()
    }
}

/// Starting the swarm failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// Hyperswarm keys are Ed25519; the node has another kind.
    #[error("the node's key is not Ed25519")]
    NotEd25519,
    /// The swarm task has stopped.
    #[error("the swarm is destroyed")]
    Destroyed,
    /// A network operation failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A bound was reached (topics joined, sessions of a topic).
    #[error("too many {0}")]
    TooMany(&'static str),
    /// A join must be server, client or both.
    #[error("join needs server or client")]
    NeitherServerNorClient,
}

/// A connection as Node's `swarm.on('connection', (socket, peerInfo))` gives it.
#[derive(Debug)]
pub struct SwarmConnection {
    /// The encrypted stream.
    pub stream: PeerConnection,
    /// What the swarm knows about the peer.
    pub peer: PeerInfo,
}

pub(crate) enum Cmd {
    Join { topic: [u8; 32], opts: JoinOpts, reply: oneshot::Sender<Result<JoinReply, SwarmError>> },
    Leave { topic: [u8; 32], session: u64, reply: oneshot::Sender<()> },
    JoinPeer { public_key: [u8; 32], protocol: Option<ProtocolId> },
    LeavePeer([u8; 32]),
    Ban([u8; 32], bool),
    Discovered { topic: [u8; 32], record: PeerRecord },
    RefreshDone { topic: [u8; 32], epoch: u64, ok: bool },
    ConnectDone { id: ConnId, result: Result<RawConnection, NetworkError> },
    Inbound(RawConnection),
    Closed(ConnId),
    Flush(oneshot::Sender<()>),
    Stats(oneshot::Sender<(Stats, usize)>),
    Destroy(oneshot::Sender<()>),
}

pub(crate) struct Inner {
    pub(crate) cmds: mpsc::Sender<Cmd>,
    keypair: Keypair,
    stop: CancellationToken,
    connections: std::sync::Mutex<Option<mpsc::Receiver<SwarmConnection>>>,
    counters: Arc<crate::counters::Shared>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Hyperswarm: join 32-byte topics, find peers on the HyperDHT and connect to them —
/// wire-compatible with Node's `hyperswarm` 4.17.
///
/// Built on a Rhizome [`Node`]: the node's Ed25519 key is the Hyperswarm key, and a
/// topic joined for a protocol ([`JoinOpts::protocol`]) hands its connections to the
/// node as single-stream connections of that protocol — the remote's key is its
/// `PeerId`, the node's limits, admission hook and events apply, and the handler set
/// with `set_stream_handler` serves them like any libp2p stream. Topics joined without
/// a protocol deliver raw [`PeerConnection`]s through [`Hyperswarm::connections`].
///
/// Cheap to clone; stops when the last clone is dropped, the node shuts down, or
/// [`Hyperswarm::destroy`] is called.
#[derive(Clone)]
pub struct Hyperswarm {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Hyperswarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hyperswarm").field("public_key", &crate::hex(&self.public_key())).finish_non_exhaustive()
    }
}

impl Hyperswarm {
    /// A swarm on `node`, over `network` (a `rhizome_hyperdht::Dht` or a test network).
    pub fn new(node: &Node, network: impl PeerNetwork, config: Config) -> Result<Self, SwarmError> {
        let seed = node.keypair().ed25519_seed().ok_or(SwarmError::NotEd25519)?;
        let keypair = Keypair::from_seed(&seed);
        Ok(Self::spawn(keypair, Some(node.downgrade()), node.shutdown_token().child_token(), Arc::new(network), config))
    }

    /// A swarm without a node: every connection is delivered raw.
    pub fn standalone(keypair: Keypair, network: impl PeerNetwork, config: Config) -> Self {
        Self::spawn(keypair, None, CancellationToken::new(), Arc::new(network), config)
    }

    fn spawn(keypair: Keypair, node: Option<WeakNode>, stop: CancellationToken, network: Arc<dyn PeerNetwork>, config: Config) -> Self {
        let (cmds, rx) = mpsc::channel(COMMAND_QUEUE);
        let (conn_tx, conn_rx) = mpsc::channel(config.connection_backlog.max(1));
        let jitter = std::array::from_fn(|_| rand::random::<f64>());
        let mut core = SwarmCore::new(keypair.public_key(), config.limits.clone(), jitter);
        core.set_firewall(config.firewall.clone());
        let counters = Arc::new(crate::counters::Shared::default());
        let task = Task {
            counters: counters.clone(),
            core,
            network,
            keypair: keypair.clone(),
            node,
            cmds: cmds.downgrade(),
            stop: stop.clone(),
            topics: Topics::new(config.refresh_interval),
            conns: HashMap::new(),
            attempts: HashMap::new(),
            explicit_protocols: HashMap::new(),
            listener: None,
            raw: conn_tx,
            flushes: Vec::new(),
            config,
        };
        tokio::spawn(task.run(rx));
        Self { inner: Arc::new(Inner { cmds, keypair, stop, connections: std::sync::Mutex::new(Some(conn_rx)), counters }) }
    }

    /// Our Hyperswarm public key (the node's Ed25519 key).
    pub fn public_key(&self) -> [u8; 32] {
        self.inner.keypair.public_key()
    }

    /// The key pair.
    pub fn keypair(&self) -> &Keypair {
        &self.inner.keypair
    }

    pub(crate) async fn send(&self, cmd: Cmd) -> Result<(), SwarmError> {
        self.inner.cmds.send(cmd).await.map_err(|_| SwarmError::Destroyed)
    }

    /// Raw connections (of topics joined without a protocol), as Node's
    /// `swarm.on('connection')`. Only the first call gets them.
    pub fn connections(&self) -> Option<mpsc::Receiver<SwarmConnection>> {
        self.inner.connections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }

    /// Calls `f` for every raw connection (takes [`Hyperswarm::connections`]); false if
    /// they were already taken.
    pub fn on_connection(&self, f: impl Fn(SwarmConnection) + Send + 'static) -> bool {
        let Some(mut rx) = self.connections() else { return false };
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                f(c);
            }
        });
        true
    }

    /// Keeps connecting to `public_key` (Node's `joinPeer`), its connection delivered
    /// raw.
    pub async fn join_peer(&self, public_key: [u8; 32]) -> Result<(), SwarmError> {
        self.join_peer_for(public_key, None).await
    }

    /// Like [`Hyperswarm::join_peer`], the connection handed to the node as a stream of
    /// `protocol`.
    pub async fn join_peer_for(&self, public_key: [u8; 32], protocol: Option<ProtocolId>) -> Result<(), SwarmError> {
        self.send(Cmd::JoinPeer { public_key, protocol }).await
    }

    /// Stops reconnecting to `public_key` (Node's `leavePeer`).
    pub async fn leave_peer(&self, public_key: [u8; 32]) -> Result<(), SwarmError> {
        self.send(Cmd::LeavePeer(public_key)).await
    }

    /// Bans (or unbans) a peer: no connections to or from it.
    pub async fn ban(&self, public_key: [u8; 32], banned: bool) -> Result<(), SwarmError> {
        self.send(Cmd::Ban(public_key, banned)).await
    }

    /// Waits until every joined topic is flushed and every queued peer was tried
    /// (Node's `swarm.flush()`).
    pub async fn flush(&self) -> Result<(), SwarmError> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Flush(tx)).await?;
        rx.await.map_err(|_| SwarmError::Destroyed)
    }

    /// The counters and the number of open connections.
    pub async fn stats(&self) -> Result<(Stats, usize), SwarmError> {
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Stats(tx)).await?;
        rx.await.map_err(|_| SwarmError::Destroyed)
    }

    /// The counters now, without a round trip to the swarm task (what metrics scrape).
    pub fn counters(&self) -> crate::Counters {
        self.inner.counters.snapshot()
    }

    /// A handle on the counters that does not keep the swarm alive.
    pub fn counters_handle(&self) -> crate::CountersHandle {
        crate::CountersHandle(self.inner.counters.clone())
    }

    /// Leaves every topic (unannouncing), stops listening and closes the swarm's
    /// connections.
    pub async fn destroy(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Cmd::Destroy(tx)).await.is_ok() {
            let _ = rx.await;
        }
        self.inner.stop.cancel();
    }
}

struct Live {
    traffic: Arc<Traffic>,
    cancel: CancellationToken,
    node_conn: Option<rhizome_node::Connection>,
}

pub(crate) struct Task {
    pub(crate) counters: Arc<crate::counters::Shared>,
    pub(crate) core: SwarmCore,
    pub(crate) network: Arc<dyn PeerNetwork>,
    pub(crate) keypair: Keypair,
    node: Option<WeakNode>,
    pub(crate) cmds: mpsc::WeakSender<Cmd>,
    stop: CancellationToken,
    pub(crate) topics: Topics,
    conns: HashMap<ConnId, Live>,
    attempts: HashMap<ConnId, tokio::task::JoinHandle<()>>,
    explicit_protocols: HashMap<[u8; 32], ProtocolId>,
    pub(crate) listener: Option<ListenState>,
    raw: mpsc::Sender<SwarmConnection>,
    flushes: Vec<oneshot::Sender<()>>,
    config: Config,
}

/// Our listener: started by the first server topic, shared by all.
pub(crate) struct ListenState {
    relays: watch::Receiver<Option<Vec<SocketAddrV4>>>,
    close: oneshot::Sender<()>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        loop {
            let deadline = self.core.next_deadline().map(tokio::time::Instant::from_std);
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Destroy(reply)) => {
                        self.destroy().await;
                        let _ = reply.send(());
                        return;
                    }
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                _ = sleep => self.core.tick(Instant::now()),
                _ = self.stop.cancelled() => break,
            }
            self.drive();
            self.counters.set_core(self.core.stats(), self.conns.len());
        }
        self.destroy().await;
    }

    fn handle(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Join { topic, opts, reply } => {
                let r = self.join(topic, opts);
                let _ = reply.send(r);
            }
            Cmd::Leave { topic, session, reply } => self.leave(topic, session, reply),
            Cmd::JoinPeer { public_key, protocol } => {
                if let Some(p) = protocol {
                    if self.explicit_protocols.len() < self.config.limits.max_known_peers {
                        self.explicit_protocols.insert(public_key, p);
                    }
                } else {
                    self.explicit_protocols.remove(&public_key);
                }
                self.core.join_peer(public_key, now);
            }
            Cmd::LeavePeer(k) => {
                self.explicit_protocols.remove(&k);
                self.core.leave_peer(&k);
            }
            Cmd::Ban(k, b) => self.core.ban(k, b),
            Cmd::Discovered { topic, record } => {
                if self.topics.is_client(&topic) {
                    self.core.peer_discovered(record.public_key, Some(record.relay_addresses), topic, now);
                }
            }
            Cmd::RefreshDone { topic, epoch, ok } => self.topics.refresh_done(&topic, epoch, ok),
            Cmd::ConnectDone { id, result } => {
                self.attempts.remove(&id);
                match result {
                    Ok(raw) if self.core.client_opened(id, now) => self.deliver(id, raw, Direction::Outbound),
                    Ok(_) => {}
                    Err(e) => {
                        debug!(error = %e, "hyperswarm connect failed");
                        self.core.closed(id, now);
                    }
                }
            }
            Cmd::Inbound(raw) => {
                let conns = &self.conns;
                let decision = self.core.incoming(
                    raw.remote_public_key,
                    raw.is_initiator,
                    |id| conns.get(&id).is_some_and(|c| c.traffic.established()),
                    now,
                );
                match decision {
                    Incoming::Accept(id) | Incoming::Replace { id, .. } => {
                        // A Replace's Close action is drained first: the old stream is cut off.
                        self.drain_actions();
                        self.deliver(id, raw, Direction::Inbound);
                    }
                    Incoming::Duplicate { .. } | Incoming::Refused => {
                        debug!(remote = %crate::hex(&raw.remote_public_key), ?decision, "inbound connection dropped")
                    }
                }
            }
            Cmd::Closed(id) => {
                self.conns.remove(&id);
                self.core.closed(id, now);
            }
            Cmd::Flush(reply) => self.flushes.push(reply),
            Cmd::Stats(reply) => {
                let _ = reply.send((self.core.stats(), self.conns.len()));
            }
            Cmd::Destroy(_) => {}
        }
    }

    /// Runs the core's actions and answers flushes that are due.
    fn drive(&mut self) {
        self.drain_actions();
        if !self.flushes.is_empty() && self.core.is_flushed() && self.topics.all_flushed() {
            for f in self.flushes.drain(..) {
                let _ = f.send(());
            }
        }
    }

    fn drain_actions(&mut self) {
        while let Some(action) = self.core.poll_action() {
            match action {
                Action::Connect { id, public_key, relay_addresses } => {
                    self.start_connect(id, public_key, relay_addresses.unwrap_or_default())
                }
                Action::Close { id } => {
                    if let Some(a) = self.attempts.remove(&id) {
                        a.abort();
                    }
                    if let Some(live) = self.conns.remove(&id) {
                        live.cancel.cancel();
                        if let Some(c) = live.node_conn {
                            tokio::spawn(async move { c.close().await });
                        }
                    }
                }
                Action::Banned { public_key } => debug!(peer = %crate::hex(&public_key), "hyperswarm peer banned"),
            }
        }
    }

    fn start_connect(&mut self, id: ConnId, public_key: [u8; 32], relays: Vec<SocketAddrV4>) {
        let (net, kp, cmds, timeout) = (self.network.clone(), self.keypair.clone(), self.cmds.clone(), self.config.connect_timeout);
        let handle = tokio::spawn(async move {
            let result = match tokio::time::timeout(timeout, net.connect(&kp, public_key, &relays)).await {
                Ok(r) => r,
                Err(_) => Err(NetworkError::Connect { remote: crate::hex(&public_key), reason: "timed out".into() }),
            };
            if let Some(cmds) = cmds.upgrade() {
                let _ = cmds.send(Cmd::ConnectDone { id, result }).await;
            }
        });
        self.attempts.insert(id, handle);
    }

    /// The protocol a connection is served with: the explicit peer's, else a topic of
    /// the peer's that has one (outbound), else the first server topic's (inbound).
    fn protocol_for(&self, key: &[u8; 32], direction: Direction) -> Option<ProtocolId> {
        if let Some(p) = self.explicit_protocols.get(key) {
            return Some(p.clone());
        }
        let from_topics = self.core.peer(key).and_then(|p| p.topics.iter().find_map(|t| self.topics.protocol(t)));
        match direction {
            Direction::Outbound => from_topics,
            _ => from_topics.or_else(|| self.topics.server_protocol()),
        }
    }

    fn deliver(&mut self, id: ConnId, raw: RawConnection, direction: Direction) {
        let now = Instant::now();
        let key = raw.remote_public_key;
        let (local, remote) = (addr(raw.local_addr), addr(raw.remote_addr));
        let (stream, handle) = PeerConnection::new(raw.io, key, raw.is_initiator);
        let ConnHandle { traffic, cancel, dropped } = handle;
        let node = self.node.as_ref().and_then(WeakNode::upgrade);
        let protocol = self.protocol_for(&key, direction);
        let mut node_conn = None;
        match (node, protocol, crate::peer_id(&key)) {
            (Some(node), Some(protocol), Some(peer)) => {
                let est = rhizome_node::EstablishedConnection::single_stream(peer, local, remote, "hyperswarm", Box::new(stream), protocol);
                match node.add_connection(est, direction) {
                    Ok(c) => node_conn = Some(c),
                    Err(e) => {
                        debug!(error = %e, "node refused a hyperswarm connection");
                        if matches!(e, rhizome_node::AddConnectionError::Refused) {
                            self.core.ban(key, true);
                        }
                        self.core.closed(id, now);
                        return;
                    }
                }
            }
            _ => {
                let peer = self.core.peer(&key).cloned().unwrap_or_else(|| PeerInfo::new(key, None));
                if self.raw.try_send(SwarmConnection { stream, peer }).is_err() {
                    debug!("no room for a raw hyperswarm connection: closed");
                    self.core.closed(id, now);
                    return;
                }
            }
        }
        let cmds = self.cmds.clone();
        let watched = node_conn.clone();
        tokio::spawn(async move {
            match watched {
                Some(c) => {
                    tokio::select! {
                        _ = c.closed() => {}
                        _ = dropped => {}
                    }
                }
                None => {
                    let _ = dropped.await;
                }
            }
            if let Some(cmds) = cmds.upgrade() {
                let _ = cmds.send(Cmd::Closed(id)).await;
            }
        });
        self.conns.insert(id, Live { traffic, cancel, node_conn });
    }

    /// Starts our listener if not yet started; the watch yields our relays once
    /// listening (and closes if listening failed).
    pub(crate) fn ensure_listening(&mut self) -> watch::Receiver<Option<Vec<SocketAddrV4>>> {
        if let Some(l) = &self.listener {
            return l.relays.clone();
        }
        let (cell, relays) = watch::channel(None);
        let (close_tx, close_rx) = oneshot::channel();
        let (net, kp, cmds) = (self.network.clone(), self.keypair.clone(), self.cmds.clone());
        tokio::spawn(async move {
            let mut listener: Box<dyn PeerListener> = match net.listen(&kp).await {
                Ok(l) => l,
                Err(e) => {
                    debug!(error = %e, "hyperswarm listen failed");
                    return;
                }
            };
            cell.send_replace(Some(listener.relay_addresses()));
            let mut close_rx = close_rx;
            // The DHT refreshes our relays; later announces carry the current ones.
            let mut relay_check = tokio::time::interval(RELAY_CHECK);
            loop {
                tokio::select! {
                    _ = relay_check.tick() => {
                        let now = listener.relay_addresses();
                        cell.send_if_modified(|v| {
                            let changed = v.as_ref() != Some(&now);
                            if changed {
                                *v = Some(now);
                            }
                            changed
                        });
                    }
                    conn = listener.accept() => {
                        let Some(conn) = conn else { break };
                        let Some(cmds) = cmds.upgrade() else { break };
                        if cmds.send(Cmd::Inbound(conn)).await.is_err() {
                            break;
                        }
                    }
                    _ = &mut close_rx => break,
                }
            }
            listener.close().await;
        });
        self.listener = Some(ListenState { relays: relays.clone(), close: close_tx });
        relays
    }

    async fn destroy(&mut self) {
        self.core.destroy();
        self.topics.leave_all(self.network.clone(), self.keypair.clone()).await;
        if let Some(l) = self.listener.take() {
            let _ = l.close.send(());
        }
        for (_, a) in self.attempts.drain() {
            a.abort();
        }
        for (_, live) in self.conns.drain() {
            live.cancel.cancel();
            if let Some(c) = live.node_conn {
                c.close().await;
            }
        }
    }
}

fn addr(a: Option<std::net::SocketAddr>) -> Multiaddr {
    let s = match a {
        Some(std::net::SocketAddr::V4(v)) => format!("/ip4/{}/udp/{}", v.ip(), v.port()),
        Some(std::net::SocketAddr::V6(v)) => format!("/ip6/{}/udp/{}", v.ip(), v.port()),
        None => "/ip4/0.0.0.0/udp/0".to_string(),
    };
    s.parse().unwrap_or_else(|_| Multiaddr::empty())
}
