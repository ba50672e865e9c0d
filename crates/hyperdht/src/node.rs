//! [`Dht`]: the thin tokio shell around [`Rpc`] over one [`rhizome_udx::Socket`] (the
//! socket's non-UDX datagrams carry dht-rpc, as in hyperdht). IPv4 only, like dht-rpc.

use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rhizome_udx::Socket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::message::{Id, Request, Response, command, error_code};
use crate::peer::TokenSecrets;
use crate::query::Reply;
use crate::routing::Node;
use crate::rpc::{Config, Event, QueryId, RequestId, Rpc, RpcError};

/// Commands queued to the DHT task at most.
const COMMAND_QUEUE: usize = 64;
/// Answers to incoming requests queued at most (more are dropped; the sender resends).
const ANSWER_QUEUE: usize = 1024;
/// Incoming requests queued per taker at most (more are dropped; the sender resends).
pub const INCOMING_QUEUE: usize = 256;
/// Unread query replies buffered per [`QueryHandle`] at most.
pub const QUERY_REPLY_QUEUE: usize = 256;
/// Targets registered with [`Dht::register_target`] at most.
pub const MAX_TARGETS: usize = 1024;

/// Why a [`Dht`] operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DhtError {
    /// Binding or reading the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// Binding the UDX socket failed.
    #[error("bind: {0}")]
    Bind(#[from] rhizome_udx::BindError),
    /// dht-rpc speaks IPv4 only.
    #[error("dht-rpc needs an IPv4 address, got {0}")]
    NotIpv4(SocketAddr),
    /// No randomness for ids and token secrets.
    #[error("no randomness: {0}")]
    Random(String),
    /// The core refused the request (limits).
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// The request got no reply after its retries.
    #[error("request timed out")]
    Timeout,
    /// The DHT task has stopped.
    #[error("the DHT task has stopped")]
    Closed,
    /// [`MAX_TARGETS`] targets are registered.
    #[error("too many registered targets")]
    TooManyTargets,
}

/// Where a reply to one request goes: the responder's address and its response.
type ReplySink = oneshot::Sender<Result<(SocketAddrV4, Response), DhtError>>;

enum Cmd {
    Ping(SocketAddrV4, ReplySink),
    Request(SocketAddrV4, OutRequest, ReplySink),
    RawRequest(SocketAddrV4, u16, OutRequest),
    RawResponse(SocketAddrV4, Response),
    Query(Id, OutRequest, QuerySinks),
    Table(oneshot::Sender<Vec<Node>>),
}

struct QuerySinks {
    replies: mpsc::Sender<Reply>,
    done: oneshot::Sender<Result<Vec<Reply>, DhtError>>,
}

/// A reply to an [`Incoming`] request, for the DHT task to send.
struct Answer {
    to: SocketAddrV4,
    request: Request,
    error: u64,
    value: Option<Vec<u8>>,
    bare: bool,
}

/// A request to send with [`Dht::request`]: a hyperdht command unless `internal`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OutRequest {
    /// The command id.
    pub command: u64,
    /// The target.
    pub target: Option<Id>,
    /// The payload.
    pub value: Option<Vec<u8>>,
    /// A write token the receiver gave us.
    pub token: Option<Id>,
    /// A dht-rpc internal command (PING, FIND_NODE, …).
    pub internal: bool,
}

impl OutRequest {
    /// A hyperdht (non-internal) command.
    pub fn new(command: u64) -> Self {
        Self { command, ..Self::default() }
    }

    /// With a target.
    pub fn target(mut self, target: Id) -> Self {
        self.target = Some(target);
        self
    }

    /// With a payload.
    pub fn value(mut self, value: Vec<u8>) -> Self {
        self.value = Some(value);
        self
    }

    /// With a write token.
    pub fn token(mut self, token: Id) -> Self {
        self.token = Some(token);
        self
    }
}

/// A non-internal request that arrived; answer it with one of its methods. Dropping it
/// sends nothing (the sender times out).
#[derive(Debug)]
pub struct Incoming {
    /// Who sent it.
    pub from: SocketAddrV4,
    /// The request (`token` is `Some` only when it verified).
    pub request: Request,
    answers: mpsc::Sender<Answer>,
}

impl Incoming {
    fn answer(self, error: u64, value: Option<Vec<u8>>, bare: bool) {
        let a = Answer { to: self.from, request: self.request, error, value, bare };
        // a full answer queue drops the reply; the requester resends
        let _ = self.answers.try_send(a);
    }

    /// Replies as dht-rpc does: our id (if persistent), a fresh token for the sender and the
    /// closest nodes to the request's target.
    pub fn reply(self, error: u64, value: Option<Vec<u8>>) {
        self.answer(error, value, false);
    }

    /// Replies with no token and no closer nodes.
    pub fn reply_bare(self, error: u64, value: Option<Vec<u8>>) {
        self.answer(error, value, true);
    }

    /// Sends nothing (for example for a bad signature: the sender times out).
    pub fn ignore(self) {}
}

/// A running query started by [`Dht::query`].
#[derive(Debug)]
pub struct QueryHandle {
    replies: mpsc::Receiver<Reply>,
    done: oneshot::Receiver<Result<Vec<Reply>, DhtError>>,
}

impl QueryHandle {
    /// The next reply with error 0 from a node with a valid id, in arrival order; `None`
    /// once the query has finished. At most [`QUERY_REPLY_QUEUE`] replies wait unread;
    /// later ones are not delivered here (they still count towards [`QueryHandle::finish`]).
    pub async fn next(&mut self) -> Option<Reply> {
        self.replies.recv().await
    }

    /// Waits for the end: the k closest nodes that replied, nearest first, with their tokens.
    pub async fn finish(self) -> Result<Vec<Reply>, DhtError> {
        self.done.await.map_err(|_| DhtError::Closed)?
    }
}

#[derive(Debug, Default)]
struct Registry {
    general: Option<mpsc::Sender<Incoming>>,
    targets: HashMap<Id, mpsc::Sender<Incoming>>,
}

impl Registry {
    /// The taker of a request with `target`; `None` when nobody takes it.
    fn route(&mut self, command: u64, target: Option<&Id>) -> Option<&mpsc::Sender<Incoming>> {
        // only the connection commands go to a registered target (a storing node that also
        // listens must still store and answer LOOKUP/FIND_PEER/ANNOUNCE for its own key)
        let connection = matches!(command, crate::wire::ns::command::PEER_HANDSHAKE | crate::wire::ns::command::PEER_HOLEPUNCH);
        if let Some(t) = target.filter(|_| connection) {
            if self.targets.get(t).is_some_and(mpsc::Sender::is_closed) {
                self.targets.remove(t);
            }
            if self.targets.contains_key(t) {
                return self.targets.get(t);
            }
        }
        if self.general.as_ref().is_some_and(mpsc::Sender::is_closed) {
            self.general = None;
        }
        self.general.as_ref()
    }
}

/// A dht-rpc node on a tokio runtime. Ephemeral by default. Dropping it stops its task.
#[derive(Debug)]
pub struct Dht {
    cmds: mpsc::Sender<Cmd>,
    local: SocketAddrV4,
    id: Id,
    persistent: bool,
    socket: Arc<Socket>,
    bootstrap: Vec<SocketAddrV4>,
    registry: Arc<Mutex<Registry>>,
    task: JoinHandle<()>,
}

impl Drop for Dht {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn random<const N: usize>() -> Result<[u8; N], DhtError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| DhtError::Random(e.to_string()))?;
    Ok(b)
}

fn v4(a: SocketAddr) -> Result<SocketAddrV4, DhtError> {
    match a {
        SocketAddr::V4(v) => Ok(v),
        other => Err(DhtError::NotIpv4(other)),
    }
}

impl Dht {
    /// Binds `addr` and, if `bootstrap` is not empty, runs the bootstrap query (FIND_NODE
    /// towards our own table id) before returning.
    pub async fn bind(addr: SocketAddrV4, bootstrap: Vec<SocketAddrV4>, config: Config) -> Result<Self, DhtError> {
        let socket = Arc::new(Socket::bind(addr).await?);
        Self::with_socket(socket, bootstrap, config).await
    }

    /// Runs over an existing UDX socket (shared with UDX streams).
    pub async fn with_socket(socket: Arc<Socket>, bootstrap: Vec<SocketAddrV4>, config: Config) -> Result<Self, DhtError> {
        let local = v4(socket.local_addr()?)?;
        let tid = u16::from_le_bytes(random()?);
        let secrets = TokenSecrets::new(random()?, random()?);
        let mut rpc = Rpc::new(config, local, random()?, secrets, tid, Instant::now());
        rpc.set_bootstrap(bootstrap.clone());
        let id = *rpc.id();
        let persistent = rpc.is_persistent();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let registry = Arc::new(Mutex::new(Registry::default()));
        let task = tokio::spawn(run(rpc, socket.clone(), rx, bootstrap.clone(), registry.clone()));
        let dht = Self { cmds: tx, local, id, persistent, socket, bootstrap: bootstrap.clone(), registry, task };
        if !bootstrap.is_empty() {
            dht.find_node(id).await?;
        }
        Ok(dht)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.local
    }

    /// Our table id (random for an ephemeral node).
    pub fn id(&self) -> Id {
        self.id
    }

    /// PINGs `to`; the reply (with the responder's id if it is persistent).
    pub async fn ping(&self, to: SocketAddrV4) -> Result<Response, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Ping(to, tx)).await.map_err(|_| DhtError::Closed)?;
        rx.await.map_err(|_| DhtError::Closed)?.map(|(_, r)| r)
    }

    /// Runs a FIND_NODE query; the closest persistent nodes that replied, nearest first.
    pub async fn find_node(&self, target: Id) -> Result<Vec<Reply>, DhtError> {
        let req = OutRequest { command: command::FIND_NODE, target: Some(target), value: None, token: None, internal: true };
        self.start_query(target, req).await?.finish().await
    }

    /// A snapshot of the routing table.
    pub async fn table(&self) -> Result<Vec<Node>, DhtError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Table(tx)).await.map_err(|_| DhtError::Closed)?;
        rx.await.map_err(|_| DhtError::Closed)
    }

    /// The UDX socket, shared with UDX streams.
    pub fn socket(&self) -> &Arc<Socket> {
        &self.socket
    }

    /// The bootstrap nodes given at start.
    pub fn bootstrap_nodes(&self) -> &[SocketAddrV4] {
        &self.bootstrap
    }

    /// Whether this node is persistent (sends its id, is stored by others).
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Sends one request (with dht-rpc's resends) and waits for its reply.
    pub async fn request(&self, to: SocketAddrV4, req: OutRequest) -> Result<Response, DhtError> {
        self.request_from(to, req).await.map(|(_, r)| r)
    }

    /// [`Dht::request`], also returning the address the reply came from (dht-rpc matches
    /// replies by tid alone; hyperdht's handshake checks the source).
    pub async fn request_from(&self, to: SocketAddrV4, req: OutRequest) -> Result<(SocketAddrV4, Response), DhtError> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Request(to, req, tx)).await.map_err(|_| DhtError::Closed)?;
        rx.await.map_err(|_| DhtError::Closed)?
    }

    /// Sends a request once with transaction id `tid` and waits for nothing (a relay
    /// forwarding a request on behalf of its sender).
    pub async fn send_request_raw(&self, to: SocketAddrV4, tid: u16, req: OutRequest) -> Result<(), DhtError> {
        self.cmds.send(Cmd::RawRequest(to, tid, req)).await.map_err(|_| DhtError::Closed)
    }

    /// Sends `res` to `to` as it is (our id is filled in when persistent).
    pub async fn send_response_raw(&self, to: SocketAddrV4, res: Response) -> Result<(), DhtError> {
        self.cmds.send(Cmd::RawResponse(to, res)).await.map_err(|_| DhtError::Closed)
    }

    /// Starts an iterative query for `target` sending the hyperdht command `command` (with
    /// `value`) to every node it visits.
    pub async fn query(&self, target: Id, command: u64, value: Option<Vec<u8>>) -> Result<QueryHandle, DhtError> {
        let req = OutRequest { command, target: Some(target), value, token: None, internal: false };
        self.start_query(target, req).await
    }

    async fn start_query(&self, target: Id, req: OutRequest) -> Result<QueryHandle, DhtError> {
        let (rtx, rrx) = mpsc::channel(QUERY_REPLY_QUEUE);
        let (dtx, drx) = oneshot::channel();
        let sinks = QuerySinks { replies: rtx, done: dtx };
        self.cmds.send(Cmd::Query(target, req, sinks)).await.map_err(|_| DhtError::Closed)?;
        Ok(QueryHandle { replies: rrx, done: drx })
    }

    /// Non-internal requests that no registered target claims. Only the first call gets
    /// them; without a taker they are answered UNKNOWN_COMMAND.
    pub fn take_requests(&self) -> Option<mpsc::Receiver<Incoming>> {
        let mut r = self.registry.lock().ok()?;
        if r.general.as_ref().is_some_and(|g| !g.is_closed()) {
            return None;
        }
        let (tx, rx) = mpsc::channel(INCOMING_QUEUE);
        r.general = Some(tx);
        Some(rx)
    }

    /// PEER_HANDSHAKE and PEER_HOLEPUNCH requests for `target` (our server key's hash) come
    /// here instead of [`Dht::take_requests`], until the receiver is dropped; every other
    /// command for it still goes to `take_requests`. A second
    /// registration of the same target replaces the first.
    pub fn register_target(&self, target: Id) -> Result<mpsc::Receiver<Incoming>, DhtError> {
        let mut r = self.registry.lock().map_err(|_| DhtError::Closed)?;
        r.targets.retain(|_, s| !s.is_closed());
        if r.targets.len() >= MAX_TARGETS && !r.targets.contains_key(&target) {
            return Err(DhtError::TooManyTargets);
        }
        let (tx, rx) = mpsc::channel(INCOMING_QUEUE);
        r.targets.insert(target, tx);
        Ok(rx)
    }
}

fn to_core(now: Instant, rpc: &mut Rpc, to: SocketAddrV4, r: OutRequest) -> Result<RequestId, RpcError> {
    rpc.request(now, to, r.internal, r.command, r.target, r.value, r.token)
}

struct Waiting {
    requests: HashMap<RequestId, ReplySink>,
    queries: HashMap<QueryId, QuerySinks>,
}

fn on_event(e: Event, w: &mut Waiting, rpc: &mut Rpc, registry: &Mutex<Registry>, answers: &mpsc::Sender<Answer>) {
    match e {
        Event::Response { id, from, response } => {
            if let Some(tx) = w.requests.remove(&id) {
                let _ = tx.send(Ok((from, response)));
            }
        }
        Event::Timeout { id, .. } => {
            if let Some(tx) = w.requests.remove(&id) {
                let _ = tx.send(Err(DhtError::Timeout));
            }
        }
        Event::QueryReply { id, reply } => {
            if let Some(s) = w.queries.get(&id) {
                // a reader that does not keep up misses replies, never blocks the node
                let _ = s.replies.try_send(reply);
            }
        }
        Event::QueryFinished { id, closest } => {
            if let Some(s) = w.queries.remove(&id) {
                let _ = s.done.send(Ok(closest));
            }
        }
        Event::Request { from, request } => {
            let taker = registry.lock().ok().and_then(|mut r| r.route(request.command, request.target.as_ref()).cloned());
            match taker {
                Some(t) => {
                    let inc = Incoming { from, request, answers: answers.clone() };
                    // full: dropped, the sender resends
                    let _ = t.try_send(inc);
                }
                None => {
                    let closer = request.target.is_some();
                    rpc.respond(from, &request, error_code::UNKNOWN_COMMAND, None, false, closer);
                }
            }
        }
    }
}

async fn run(
    mut rpc: Rpc,
    socket: Arc<Socket>,
    mut cmds: mpsc::Receiver<Cmd>,
    bootstrap: Vec<SocketAddrV4>,
    registry: Arc<Mutex<Registry>>,
) {
    // bounded by the core's max_in_flight / max_queries
    let mut w = Waiting { requests: HashMap::new(), queries: HashMap::new() };
    let (answer_tx, mut answer_rx) = mpsc::channel::<Answer>(ANSWER_QUEUE);
    loop {
        let deadline = tokio::time::Instant::from_std(rpc.poll_timeout());
        tokio::select! {
            d = socket.recv_raw() => {
                let Some(d) = d else { return };
                if let SocketAddr::V4(from) = d.from {
                    // not dht-rpc (e.g. a holepunch probe): ignored
                    let _ = rpc.handle_datagram(Instant::now(), from, &d.data);
                }
            }
            Some(a) = answer_rx.recv() => rpc.respond(a.to, &a.request, a.error, a.value, !a.bare, !a.bare),
            c = cmds.recv() => {
                let now = Instant::now();
                match c {
                    None => return,
                    Some(Cmd::Ping(to, tx)) => match rpc.ping(now, to) {
                        Ok(id) => { w.requests.insert(id, tx); }
                        Err(e) => { let _ = tx.send(Err(e.into())); }
                    },
                    Some(Cmd::Request(to, req, tx)) => match to_core(now, &mut rpc, to, req) {
                        Ok(id) => { w.requests.insert(id, tx); }
                        Err(e) => { let _ = tx.send(Err(e.into())); }
                    },
                    Some(Cmd::RawRequest(to, tid, r)) => {
                        let req = Request { tid, to, id: None, token: r.token, internal: r.internal, command: r.command, target: r.target, value: r.value };
                        rpc.send_raw_request(to, req);
                    }
                    Some(Cmd::RawResponse(to, res)) => rpc.send_raw_response(to, res),
                    Some(Cmd::Query(target, r, sinks)) => {
                        match rpc.query(now, target, r.internal, r.command, r.value, &bootstrap) {
                            Ok(id) => { w.queries.insert(id, sinks); }
                            Err(e) => { let _ = sinks.done.send(Err(e.into())); }
                        }
                    }
                    Some(Cmd::Table(tx)) => { let _ = tx.send(rpc.table().nodes().cloned().collect()); }
                }
            }
            _ = tokio::time::sleep_until(deadline) => rpc.handle_timeout(Instant::now()),
        }
        while let Some(e) = rpc.poll_event() {
            on_event(e, &mut w, &mut rpc, &registry, &answer_tx);
        }
        // after the events: their handling may queue answers too. UDP send errors (e.g.
        // ICMP unreachable) surface as timeouts.
        while let Some(t) = rpc.poll_transmit() {
            let _ = socket.send_raw(&t.bytes, SocketAddr::V4(t.to)).await;
        }
    }
}
