//! Joined topics: sessions with server/client flags, the refresh task that announces
//! and looks up each topic, and the [`Discovery`] handle — Node hyperswarm's
//! `lib/peer-discovery.js`.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use rhizome_core::ProtocolId;
use rhizome_secret_stream::Keypair;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::network::PeerNetwork;
use crate::swarm::{Cmd, Hyperswarm, SwarmError, Task};

/// Topics joined at once at most.
pub const MAX_TOPICS: usize = 256;
/// Sessions per topic at most.
pub const MAX_SESSIONS_PER_TOPIC: usize = 64;
/// Peers found by one lookup waiting to reach the swarm task at most.
const LOOKUP_BUFFER: usize = 64;

/// How to join a topic.
#[derive(Debug, Clone)]
pub struct JoinOpts {
    /// Announce the topic and accept connections (default true).
    pub server: bool,
    /// Look the topic up and connect to its peers (default true).
    pub client: bool,
    /// Hand this topic's connections to the node as streams of this protocol (served
    /// by its `set_stream_handler`); `None` delivers them raw
    /// ([`Hyperswarm::connections`]).
    pub protocol: Option<ProtocolId>,
}

impl Default for JoinOpts {
    fn default() -> Self {
        Self { server: true, client: true, protocol: None }
    }
}

impl JoinOpts {
    /// Server only.
    pub fn server() -> Self {
        Self { server: true, client: false, protocol: None }
    }
    /// Client only.
    pub fn client() -> Self {
        Self { server: false, client: true, protocol: None }
    }
    /// For `protocol`.
    pub fn protocol(mut self, protocol: ProtocolId) -> Self {
        self.protocol = Some(protocol);
        self
    }
}

/// `(epoch of the last finished first refresh, whether it succeeded)`.
pub(crate) type Done = watch::Receiver<(u64, bool)>;

pub(crate) struct JoinReply {
    pub(crate) session: u64,
    pub(crate) epoch: u64,
    pub(crate) done: Done,
}

struct Topic {
    sessions: HashMap<u64, (bool, bool)>,
    protocol: Option<ProtocolId>,
    server: bool,
    client: bool,
    epoch: u64,
    refreshing: bool,
    task: Option<JoinHandle<()>>,
    needs_unannounce: bool,
    done: watch::Sender<(u64, bool)>,
}

pub(crate) struct Topics {
    topics: HashMap<[u8; 32], Topic>,
    next_session: u64,
    interval: Duration,
}

impl Topics {
    pub(crate) fn new(interval: Duration) -> Self {
        Self { topics: HashMap::new(), next_session: 0, interval }
    }

    pub(crate) fn is_client(&self, topic: &[u8; 32]) -> bool {
        self.topics.get(topic).is_some_and(|t| t.client)
    }

    pub(crate) fn protocol(&self, topic: &[u8; 32]) -> Option<ProtocolId> {
        self.topics.get(topic).and_then(|t| t.protocol.clone())
    }

    /// The protocol of a server topic (the first found) for inbound connections.
    pub(crate) fn server_protocol(&self) -> Option<ProtocolId> {
        self.topics.values().filter(|t| t.server).find_map(|t| t.protocol.clone())
    }

    pub(crate) fn all_flushed(&self) -> bool {
        self.topics.values().all(|t| !t.refreshing)
    }

    pub(crate) fn refresh_done(&mut self, topic: &[u8; 32], epoch: u64, ok: bool) {
        if let Some(t) = self.topics.get_mut(topic)
            && t.epoch == epoch
        {
            t.refreshing = false;
            t.done.send_replace((epoch, ok));
        }
    }

    pub(crate) async fn leave_all(&mut self, net: Arc<dyn PeerNetwork>, keypair: Keypair) {
        for (topic, t) in self.topics.drain() {
            if let Some(task) = t.task {
                task.abort();
            }
            if t.needs_unannounce {
                let _ = tokio::time::timeout(Duration::from_secs(10), net.unannounce(topic, &keypair)).await;
            }
        }
    }
}

impl Task {
    pub(crate) fn join(&mut self, topic: [u8; 32], opts: JoinOpts) -> Result<JoinReply, SwarmError> {
        let topics = &mut self.topics;
        if !topics.topics.contains_key(&topic) && topics.topics.len() >= MAX_TOPICS {
            return Err(SwarmError::TooMany("topics"));
        }
        let t = topics.topics.entry(topic).or_insert_with(|| Topic {
            sessions: HashMap::new(),
            protocol: None,
            server: false,
            client: false,
            epoch: 0,
            refreshing: false,
            task: None,
            needs_unannounce: false,
            done: watch::channel((0, false)).0,
        });
        if t.sessions.len() >= MAX_SESSIONS_PER_TOPIC {
            return Err(SwarmError::TooMany("sessions"));
        }
        topics.next_session += 1;
        let session = topics.next_session;
        t.sessions.insert(session, (opts.server, opts.client));
        if opts.protocol.is_some() {
            t.protocol = opts.protocol;
        }
        self.core.join_topic(topic);
        let epoch = self.restart_refresh(topic, true);
        let done = self.topics.topics.get(&topic).map(|t| t.done.subscribe()).ok_or(SwarmError::Destroyed)?;
        Ok(JoinReply { session, epoch, done })
    }

    pub(crate) fn leave(&mut self, topic: [u8; 32], session: u64, reply: oneshot::Sender<()>) {
        let Some(t) = self.topics.topics.get_mut(&topic) else {
            let _ = reply.send(());
            return;
        };
        t.sessions.remove(&session);
        if t.sessions.is_empty() {
            if let Some(t) = self.topics.topics.remove(&topic) {
                if let Some(task) = t.task {
                    task.abort();
                }
                self.core.leave_topic(&topic);
                let (net, kp) = (self.network.clone(), self.keypair.clone());
                tokio::spawn(async move {
                    if t.needs_unannounce {
                        let _ = tokio::time::timeout(Duration::from_secs(30), net.unannounce(topic, &kp)).await;
                    }
                    let _ = reply.send(());
                });
            }
            return;
        }
        self.restart_refresh(topic, false);
        let _ = reply.send(());
    }

    /// Node's `PeerDiscovery.refresh()`: a new refresh when the flags changed (or when
    /// asked and none runs); returns the epoch to wait for.
    fn restart_refresh(&mut self, topic: [u8; 32], force: bool) -> u64 {
        let relays = {
            let Some(t) = self.topics.topics.get(&topic) else { return 0 };
            let server = t.sessions.values().any(|s| s.0);
            server.then_some(())
        }
        .map(|()| self.ensure_listening());
        let Some(t) = self.topics.topics.get_mut(&topic) else { return 0 };
        let server = t.sessions.values().any(|s| s.0);
        let client = t.sessions.values().any(|s| s.1);
        let changed = server != t.server || client != t.client;
        if !changed && (t.refreshing || !force) {
            return t.epoch;
        }
        t.server = server;
        t.client = client;
        t.epoch += 1;
        t.refreshing = true;
        let unannounce_first = !server && t.needs_unannounce;
        if server {
            t.needs_unannounce = true;
        } else if unannounce_first {
            t.needs_unannounce = false;
        }
        if let Some(old) = t.task.take() {
            old.abort();
        }
        let job = Refresh {
            counters: self.counters.clone(),
            net: self.network.clone(),
            keypair: self.keypair.clone(),
            cmds: self.cmds.clone(),
            topic,
            epoch: t.epoch,
            server,
            client,
            relays,
            unannounce_first,
            interval: self.topics.interval,
        };
        t.task = Some(tokio::spawn(job.run()));
        t.epoch
    }
}

struct Refresh {
    counters: Arc<crate::counters::Shared>,
    net: Arc<dyn PeerNetwork>,
    keypair: Keypair,
    cmds: mpsc::WeakSender<Cmd>,
    topic: [u8; 32],
    epoch: u64,
    server: bool,
    client: bool,
    relays: Option<watch::Receiver<Option<Vec<SocketAddrV4>>>>,
    unannounce_first: bool,
    interval: Duration,
}

impl Refresh {
    async fn run(mut self) {
        let mut first = true;
        loop {
            let ok = self.once().await;
            if first {
                first = false;
                let Some(cmds) = self.cmds.upgrade() else { return };
                let _ = cmds.send(Cmd::RefreshDone { topic: self.topic, epoch: self.epoch, ok }).await;
            }
            self.unannounce_first = false;
            let jitter = self.interval.mul_f64(rand::random::<f64>() / 5.0);
            tokio::time::sleep(self.interval + jitter).await;
        }
    }

    async fn once(&mut self) -> bool {
        let announce = async {
            if self.server {
                let Some(relays) = &mut self.relays else { return false };
                let relays = match relays.wait_for(Option::is_some).await {
                    Ok(r) => r.clone().unwrap_or_default(),
                    Err(_) => return false,
                };
                let ok = self.net.announce(self.topic, &self.keypair, &relays).await.is_ok();
                self.counters.announce(ok);
                ok
            } else {
                if self.unannounce_first {
                    let _ = self.net.unannounce(self.topic, &self.keypair).await;
                }
                true
            }
        };
        let lookup = async {
            if !self.client {
                return true;
            }
            let (tx, mut rx) = mpsc::channel(LOOKUP_BUFFER);
            let forward = async {
                while let Some(record) = rx.recv().await {
                    self.counters.peer_found();
                    let Some(cmds) = self.cmds.upgrade() else { return };
                    if cmds.send(Cmd::Discovered { topic: self.topic, record }).await.is_err() {
                        return;
                    }
                }
            };
            let (r, ()) = tokio::join!(self.net.lookup(self.topic, tx), forward);
            self.counters.lookup(r.is_ok());
            r.is_ok()
        };
        let (a, b) = tokio::join!(announce, lookup);
        a && b
    }
}

/// A joined topic (one session of it, as Node's `PeerDiscoverySession`). Dropping it
/// leaves the topic in the background; [`Discovery::leave`] waits for the unannounce.
#[derive(Debug)]
pub struct Discovery {
    swarm: Hyperswarm,
    topic: [u8; 32],
    session: u64,
    epoch: u64,
    done: Done,
    left: bool,
}

impl Discovery {
    /// The topic.
    pub fn topic(&self) -> &[u8; 32] {
        &self.topic
    }

    /// Waits until the first announce and lookup after joining finished (Node's
    /// `discovery.flushed()`); whether they succeeded.
    pub async fn flushed(&mut self) -> bool {
        let epoch = self.epoch;
        match self.done.wait_for(|(e, _)| *e >= epoch).await {
            Ok(v) => v.1,
            Err(_) => false,
        }
    }

    /// Leaves the topic: when it was the last session, unannounces it and stops
    /// looking it up.
    pub async fn leave(mut self) {
        self.left = true;
        let (tx, rx) = oneshot::channel();
        if self.swarm.send(Cmd::Leave { topic: self.topic, session: self.session, reply: tx }).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if !self.left {
            let (tx, _) = oneshot::channel();
            let _ = self.swarm.inner.cmds.try_send(Cmd::Leave { topic: self.topic, session: self.session, reply: tx });
        }
    }
}

impl Hyperswarm {
    /// Joins `topic` (Node's `swarm.join(topic, { server, client })`): announces it
    /// (server) and connects to the peers found on it (client).
    pub async fn join(&self, topic: [u8; 32], opts: JoinOpts) -> Result<Discovery, SwarmError> {
        if !opts.server && !opts.client {
            return Err(SwarmError::NeitherServerNorClient);
        }
        let (tx, rx) = oneshot::channel();
        self.send(Cmd::Join { topic, opts, reply: tx }).await?;
        let reply = rx.await.map_err(|_| SwarmError::Destroyed)??;
        Ok(Discovery { swarm: self.clone(), topic, session: reply.session, epoch: reply.epoch, done: reply.done, left: false })
    }
}
