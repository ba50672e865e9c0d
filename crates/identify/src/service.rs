//! The identify service: answers identify requests, identifies every new connection,
//! accepts pushes, and keeps what it learned while the peer is connected.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use prost::Message as _;
use rhizome_core::framing::{self, FramingError};
use rhizome_core::{Multiaddr, PeerId};
use rhizome_node::{Event as NodeEvent, Node, Stream, StreamCtx, WeakNode};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{Semaphore, broadcast};
use tracing::{Instrument as _, debug};

use crate::message::{Identify as Message, Info};
use crate::{Config, Error, Event, PROTOCOL, PUSH_PROTOCOL};

/// Peers whose info we keep at most (entries are dropped when the peer disconnects).
const MAX_PEERS: usize = 4096;
/// Inbound identify (and push) streams per connection.
const MAX_INBOUND_STREAMS: usize = 8;
/// Identify requests to new connections running at once.
const MAX_CONCURRENT_REQUESTS: usize = 64;
/// How long the listen addresses a peer reports stay in the node's address book.
pub const IDENTIFY_ADDR_TTL: std::time::Duration = std::time::Duration::from_secs(60 * 60);

struct State {
    config: Config,
    peers: Mutex<HashMap<PeerId, Info>>,
    events: broadcast::Sender<Event>,
}

impl State {
    fn peers(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, Info>> {
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, peer: PeerId, info: Info) {
        let mut peers = self.peers();
        if !peers.contains_key(&peer) && peers.len() >= MAX_PEERS {
            // Bounded: forget an arbitrary peer (entries are refreshed on every connection).
            if let Some(k) = peers.keys().next().copied() {
                peers.remove(&k);
            }
        }
        peers.insert(peer, info);
    }
}

/// The identify service (`identify::Identify`): a cheap handle to it.
#[derive(Clone)]
pub struct Identify {
    node: WeakNode,
    state: Arc<State>,
}

impl std::fmt::Debug for Identify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identify").field("config", &self.state.config).finish_non_exhaustive()
    }
}

impl Identify {
    /// Registers the identify and push handlers on `node` and starts identifying every
    /// new connection.
    pub fn start(node: &Node, config: Config) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let state = Arc::new(State { config, peers: Mutex::new(HashMap::new()), events });
        let service = Self { node: node.downgrade(), state };
        // The responder never reads its stream, so few may be open at once (rust-libp2p: 10).
        let opts = rhizome_node::HandlerOpts { max_inbound_streams: Some(MAX_INBOUND_STREAMS) };
        let responder = service.clone();
        node.handle_with(
            PROTOCOL,
            move |stream: Stream, ctx: StreamCtx| {
                let service = responder.clone();
                async move { service.respond(stream, ctx).await }
            },
            opts.clone(),
        );
        let receiver = service.clone();
        node.handle_with(
            PUSH_PROTOCOL,
            move |stream: Stream, ctx: StreamCtx| {
                let service = receiver.clone();
                async move { service.receive_push(stream, ctx).await }
            },
            opts,
        );
        let watcher = service.clone();
        let events = node.events();
        let stop = node.shutdown_token();
        tokio::spawn(async move { watcher.watch_connections(events, stop).await }.in_current_span());
        service
    }

    /// Subscribes to what the service learns (bounded; a slow receiver is told it lagged).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.state.events.subscribe()
    }

    /// What `peer` last told us, while it is connected.
    pub fn info(&self, peer: &PeerId) -> Option<Info> {
        self.state.peers().get(peer).cloned()
    }

    /// The info we would send to a peer whose address we see as `observed`.
    pub fn local_info(&self, node: &Node, observed: Option<Multiaddr>) -> Info {
        Info {
            public_key: node.public_key(),
            protocol_version: self.state.config.protocol_version.clone(),
            agent_version: self.state.config.agent_version.clone(),
            listen_addrs: node.listen_addrs(),
            protocols: node.protocols().iter().map(|p| p.as_str().to_owned()).collect(),
            observed_addr: observed,
        }
    }

    /// Asks `peer` for its info now (connecting if needed), stores and returns it.
    pub async fn identify(&self, peer: PeerId) -> Result<Info, Error> {
        let node = self.node.upgrade().ok_or(Error::NodeGone)?;
        let result = self.request(peer, node.open_stream(peer, PROTOCOL)).await;
        self.record(&node, peer, &result);
        result
    }

    /// Identifies the peer of a new connection on that connection (never redials).
    async fn identify_connection(&self, peer: PeerId) -> Result<Info, Error> {
        let node = self.node.upgrade().ok_or(Error::NodeGone)?;
        let conn = node.connection_to(&peer).filter(|c| c.can_open_streams()).ok_or(Error::NotConnected)?;
        let result = self.request(peer, node.open_stream_on(&conn, PROTOCOL)).await;
        self.record(&node, peer, &result);
        result
    }

    /// Opens the stream, reads and checks the answer, all under the timeout.
    async fn request(
        &self,
        peer: PeerId,
        open: impl std::future::Future<Output = Result<Stream, rhizome_node::OpenStreamError>>,
    ) -> Result<Info, Error> {
        let run = async {
            let mut stream = open.await?;
            let msg = read_messages(&mut stream, &self.state.config).await?;
            Info::from_message(msg, peer)
        };
        tokio::time::timeout(self.state.config.timeout, run).await.unwrap_or(Err(Error::Timeout))
    }

    /// Stores a result (only while the peer is connected) and reports it.
    fn record(&self, node: &Node, peer: PeerId, result: &Result<Info, Error>) {
        match result {
            Ok(info) => {
                if node.connection_to(&peer).is_some() {
                    self.state.store(peer, info.clone());
                    learn(node, peer, info);
                }
                let _ = self.state.events.send(Event::Received { peer, info: info.clone() });
            }
            Err(e) => {
                let _ = self.state.events.send(Event::Error { peer, error: Arc::new(e.to_string()) });
            }
        }
    }

    /// Pushes our current info to `peer` (`/ipfs/id/push/1.0.0`).
    pub async fn push(&self, peer: PeerId) -> Result<(), Error> {
        let node = self.node.upgrade().ok_or(Error::NodeGone)?;
        let run = async {
            let mut stream = node.open_stream(peer, PUSH_PROTOCOL).await?;
            let info = self.local_info(&node, None);
            write_message(&mut stream, &info.to_message()).await
        };
        tokio::time::timeout(self.state.config.timeout, run).await.unwrap_or(Err(Error::Timeout))
    }

    async fn respond(&self, mut stream: Stream, ctx: StreamCtx) -> Result<(), Error> {
        let node = ctx.node().ok_or(Error::NodeGone)?;
        let info = self.local_info(&node, Some(ctx.remote_addr.clone()));
        drop(node);
        let msg = info.to_message();
        tokio::time::timeout(self.state.config.timeout, write_message(&mut stream, &msg)).await.unwrap_or(Err(Error::Timeout))
    }

    async fn receive_push(&self, mut stream: Stream, ctx: StreamCtx) -> Result<(), Error> {
        let msg = tokio::time::timeout(self.state.config.timeout, read_messages(&mut stream, &self.state.config))
            .await
            .unwrap_or(Err(Error::Timeout))?;
        let updated = {
            let mut peers = self.state.peers();
            match peers.get_mut(&ctx.peer) {
                Some(info) => {
                    info.apply_push(msg);
                    Some(info.clone())
                }
                // No full identify yet: a push must carry the key to be usable.
                None => Info::from_message(msg, ctx.peer).ok(),
            }
        };
        if let Some(info) = &updated {
            // Through the capped map, like every other entry.
            self.state.store(ctx.peer, info.clone());
            if let Some(node) = ctx.node() {
                learn(&node, ctx.peer, info);
            }
        }
        if let Some(info) = updated {
            let _ = self.state.events.send(Event::Pushed { peer: ctx.peer, info });
        }
        Ok(())
    }

    async fn watch_connections(self, mut events: broadcast::Receiver<NodeEvent>, stop: tokio_util::sync::CancellationToken) {
        let limit = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS));
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => return,
                e = events.recv() => e,
            };
            match event {
                Ok(NodeEvent::Connected { info, .. }) => {
                    if !info.naming.is_negotiated() {
                        // Identify is a libp2p protocol: only connections that negotiate streams speak it.
                        continue;
                    }
                    // At most MAX_CONCURRENT_REQUESTS identify at once: the permit is taken
                    // before the task exists, so tasks are bounded too (new connections
                    // wait here, and events beyond the broadcast's capacity are skipped).
                    let permit = tokio::select! {
                        _ = stop.cancelled() => return,
                        p = limit.clone().acquire_owned() => p,
                    };
                    let Ok(permit) = permit else { return };
                    let service = self.clone();
                    let span = tracing::debug_span!("identify", peer = %info.peer, connection = %info.id);
                    tokio::spawn(
                        async move {
                            let _permit = permit;
                            if let Err(e) = service.identify_connection(info.peer).await {
                                debug!(error = %e, "identify failed");
                            }
                        }
                        .instrument(span),
                    );
                }
                Ok(NodeEvent::Disconnected { info, remaining: 0 }) => {
                    self.state.peers().remove(&info.peer);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    debug!(missed = n, "identify fell behind node events")
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// Feeds what `peer` told us to the node: its listen addresses into the address book
/// (for [`IDENTIFY_ADDR_TTL`]) and the address it saw us at as an observation.
fn learn(node: &Node, peer: PeerId, info: &Info) {
    for addr in info.listen_addrs.iter().take(rhizome_node::MAX_ADDRS_PER_PEER) {
        node.add_address(peer, addr.clone(), IDENTIFY_ADDR_TTL);
    }
    if let Some(observed) = &info.observed_addr {
        node.report_observed_addr(observed.clone(), peer);
    }
}

/// Writes one length-prefixed message, then half-closes (js and go read until EOF).
async fn write_message(stream: &mut Stream, msg: &Message) -> Result<(), Error> {
    let mut msg = msg.clone();
    fit(&mut msg, crate::MAX_SEND_SIZE);
    framing::write_length_prefixed(stream, &msg.encode_to_vec()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// Drops listen addresses, then protocols, from the end until `msg` encodes to at
/// most `max` bytes (rust-libp2p reads a single message of at most 4096 bytes).
pub(crate) fn fit(msg: &mut Message, max: usize) {
    while msg.encoded_len() > max {
        if msg.listen_addrs.pop().is_none() && msg.protocols.pop().is_none() {
            break;
        }
    }
}

/// Reads up to `max_messages` length-prefixed messages until EOF and merges them.
async fn read_messages(stream: &mut Stream, config: &Config) -> Result<Message, Error> {
    let mut merged: Option<Message> = None;
    for _ in 0..config.max_messages {
        let Some(bytes) = framing::read_length_prefixed_opt(stream, config.max_message_size).await? else {
            break;
        };
        let msg = Message::decode(bytes.as_slice())?;
        match merged.as_mut() {
            Some(m) => m.merge_from(msg),
            None => merged = Some(msg),
        }
    }
    merged.ok_or(Error::Framing(FramingError::UnexpectedEof))
}
