//! The sans-IO dht-rpc core: answers PING, PING_NAT, FIND_NODE and DOWN_HINT, checks and
//! issues tokens, keeps the routing table from messages with valid ids, sends requests with
//! dht-rpc's retries and timeouts, and drives [`Query`]s.
//!
//! Feed it datagrams ([`Rpc::handle_datagram`]) and time ([`Rpc::handle_timeout`]); take
//! datagrams to send from [`Rpc::poll_transmit`] and results from [`Rpc::poll_event`]. The
//! clock is injected: every method that needs time takes `now`.
//!
//! Bounds: at most [`Config::max_in_flight`] requests and [`Config::max_queries`] queries;
//! the transmit and event queues hold at most [`MAX_QUEUE`] entries each (newer entries are
//! dropped and counted in [`Rpc::dropped`]).

mod serve;
mod upkeep;

pub use upkeep::{MAX_DELAYED_PINGS, MAX_PING_DELAY, PING_EVERY, REFRESH_EVERY, SPARSE_REFRESH_EVERY, TICK_INTERVAL};

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use crate::compact::Encoder;
use crate::message::{Id, Message, MessageError, Request, Response, command};
use crate::peer::{TokenSecrets, node_id};
use crate::query::{Query, Reply};
use crate::routing::{AddOutcome, K, Node, RoutingTable};

/// Most queued transmits and most queued events.
pub const MAX_QUEUE: usize = 4096;
/// dht-rpc's drain tick; token secrets rotate every 10 of them.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(750);
/// DOWN_HINTs sent per drain tick at most (dht-rpc: 50 per 5 s tick).
const DOWN_HINTS_PER_TICK: u32 = 8;

/// Tunables; the defaults are dht-rpc's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Ephemeral nodes send no id and are stored by nobody (dht-rpc's default at start).
    pub ephemeral: bool,
    /// Bucket size and result size.
    pub k: usize,
    /// Query concurrency (dht-rpc: 10).
    pub concurrency: usize,
    /// Time to wait for each send of a request (dht-rpc: 1000 ms).
    pub timeout: Duration,
    /// Resends of a plain request (dht-rpc: 3, so up to 4 sends).
    pub retries: u8,
    /// Resends of a query request (dht-rpc: 5).
    pub query_retries: u8,
    /// Requests in flight at most.
    pub max_in_flight: usize,
    /// Concurrent queries at most.
    pub max_queries: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ephemeral: true,
            k: K,
            concurrency: 10,
            timeout: Duration::from_millis(1000),
            retries: 3,
            query_retries: 5,
            max_in_flight: 1024,
            max_queries: 64,
        }
    }
}

/// Why a request or query could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// [`Config::max_in_flight`] requests are outstanding.
    #[error("too many requests in flight")]
    TooManyInFlight,
    /// [`Config::max_queries`] queries are running.
    #[error("too many queries running")]
    TooManyQueries,
}

/// Handle of a request started with [`Rpc::request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(u64);

/// Handle of a query started with [`Rpc::find_node`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueryId(u64);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddrV4,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// Something the caller should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A reply to a request from [`Rpc::request`].
    Response {
        /// The request.
        id: RequestId,
        /// Who answered.
        from: SocketAddrV4,
        /// The reply.
        response: Response,
    },
    /// A request from [`Rpc::request`] got no reply after all its retries.
    Timeout {
        /// The request.
        id: RequestId,
        /// Where it went.
        to: SocketAddrV4,
    },
    /// A reply with error 0 and a valid id arrived for a query (in arrival order).
    QueryReply {
        /// The query.
        id: QueryId,
        /// The reply.
        reply: Reply,
    },
    /// A non-internal request (a hyperdht command) arrived. Its token, when present, has
    /// verified. Answer it with [`Rpc::respond`] (or not at all).
    Request {
        /// Who sent it.
        from: SocketAddrV4,
        /// The request.
        request: Request,
    },
    /// A query ended.
    QueryFinished {
        /// The query.
        id: QueryId,
        /// The closest persistent nodes that replied, nearest first.
        closest: Vec<Reply>,
    },
}

#[derive(Debug, Clone)]
enum Purpose {
    User(RequestId),
    Query(QueryId),
    Silent,
    /// A reping of a full row's oldest node: if it times out, this newcomer replaces it.
    Swap(Box<Node>),
}

#[derive(Debug)]
struct InFlight {
    to: SocketAddrV4,
    bytes: Vec<u8>,
    sends: u8,
    retries: u8,
    deadline: Instant,
    purpose: Purpose,
}

/// A query and the request it sends to every node it visits.
#[derive(Debug)]
struct Running {
    q: Query,
    internal: bool,
    command: u64,
    value: Option<Vec<u8>>,
    /// A refresh started by the core: no events.
    background: bool,
}

/// The dht-rpc node core.
#[derive(Debug)]
pub struct Rpc {
    config: Config,
    table: RoutingTable,
    secrets: TokenSecrets,
    next_tid: u16,
    next_handle: u64,
    in_flight: HashMap<u16, InFlight>,
    queries: HashMap<u64, Running>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_drain: Instant,
    upkeep: upkeep::Upkeep,
    tick: u64,
    down_hints: u32,
    dropped: u64,
}

impl Rpc {
    /// A node bound at `local`. An ephemeral node's table is around `table_id` (random in
    /// dht-rpc); a persistent one uses `node_id(local)`. `secrets` and `tid_seed` should be
    /// random.
    pub fn new(config: Config, local: SocketAddrV4, table_id: Id, secrets: TokenSecrets, tid_seed: u16, now: Instant) -> Self {
        let id = if config.ephemeral { table_id } else { node_id(local) };
        Self {
            table: RoutingTable::new(id, config.k),
            config,
            secrets,
            next_tid: tid_seed,
            next_handle: 0,
            in_flight: HashMap::new(),
            queries: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_drain: now + DRAIN_INTERVAL,
            upkeep: upkeep::Upkeep::new(now),
            tick: 0,
            down_hints: 0,
            dropped: 0,
        }
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Our table id.
    pub fn id(&self) -> &Id {
        self.table.id()
    }

    /// Transmits and events dropped because their queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Requests in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn send_id(&self) -> Option<Id> {
        (!self.config.ephemeral).then(|| *self.table.id())
    }

    /// Adds a node we were told about (bootstrap, `addNode`).
    pub fn add_node(&mut self, addr: SocketAddrV4) {
        let t = self.tick;
        self.table.add(Node { id: node_id(addr), addr, added: t, pinged: t, seen: t });
    }

    fn push_transmit(&mut self, t: Transmit) {
        if self.transmits.len() >= MAX_QUEUE {
            self.dropped += 1;
        } else {
            self.transmits.push_back(t);
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() >= MAX_QUEUE {
            self.dropped += 1;
        } else {
            self.events.push_back(e);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Rpc::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Instant {
        let base = self.next_drain.min(self.upkeep.next_deadline());
        self.in_flight.values().map(|r| r.deadline).fold(base, Instant::min)
    }

    #[allow(clippy::too_many_arguments)]
    fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        internal: bool,
        cmd: u64,
        target: Option<Id>,
        value: Option<Vec<u8>>,
        token: Option<Id>,
        retries: u8,
        purpose: Purpose,
    ) -> Result<(), RpcError> {
        if self.in_flight.len() >= self.config.max_in_flight {
            return Err(RpcError::TooManyInFlight);
        }
        let mut tid = self.next_tid;
        while self.in_flight.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        let req = Request { tid, to, id: self.send_id(), token, internal, command: cmd, target, value };
        let bytes = req.encode();
        self.push_transmit(Transmit { to, bytes: bytes.clone() });
        let deadline = now + self.config.timeout;
        self.in_flight.insert(tid, InFlight { to, bytes, sends: 1, retries, deadline, purpose });
        Ok(())
    }

    /// Sends a request; its reply or timeout comes back as an [`Event`].
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        internal: bool,
        command: u64,
        target: Option<Id>,
        value: Option<Vec<u8>>,
        token: Option<Id>,
    ) -> Result<RequestId, RpcError> {
        let id = RequestId(self.next_handle);
        let retries = self.config.retries;
        self.send_request(now, to, internal, command, target, value, token, retries, Purpose::User(id))?;
        self.next_handle += 1;
        Ok(id)
    }

    /// PING `to`.
    pub fn ping(&mut self, now: Instant, to: SocketAddrV4) -> Result<RequestId, RpcError> {
        self.request(now, to, true, command::PING, None, None, None)
    }

    /// Starts a FIND_NODE query for `target` from the table's closest nodes, topped up with
    /// `bootstrap` when the table holds fewer than k.
    pub fn find_node(&mut self, now: Instant, target: Id, bootstrap: &[SocketAddrV4]) -> Result<QueryId, RpcError> {
        self.query(now, target, true, command::FIND_NODE, None, bootstrap)
    }

    /// Starts an iterative query for `target` that sends `command` (with `value`) to every
    /// node it visits; replies come as [`Event::QueryReply`], then [`Event::QueryFinished`].
    pub fn query(
        &mut self,
        now: Instant,
        target: Id,
        internal: bool,
        command: u64,
        value: Option<Vec<u8>>,
        bootstrap: &[SocketAddrV4],
    ) -> Result<QueryId, RpcError> {
        if self.queries.len() >= self.config.max_queries {
            return Err(RpcError::TooManyQueries);
        }
        let mut start: Vec<SocketAddrV4> = self.table.closest(&target, self.config.k).iter().map(|n| n.addr).collect();
        if start.len() < self.config.k {
            start.extend(bootstrap.iter().filter(|b| !start.contains(b)).copied().collect::<Vec<_>>());
        }
        let q = Query::new(target, *self.table.id(), self.config.k, self.config.concurrency, start);
        let id = QueryId(self.next_handle);
        self.next_handle += 1;
        self.queries.insert(id.0, Running { q, internal, command, value, background: false });
        self.pump_query(now, id);
        Ok(id)
    }

    fn pump_query(&mut self, now: Instant, id: QueryId) {
        loop {
            if self.in_flight.len() >= self.config.max_in_flight {
                break;
            }
            let Some(r) = self.queries.get_mut(&id.0) else { return };
            let target = *r.q.target();
            let Some(addr) = r.q.next_visit() else { break };
            let (internal, cmd, value) = (r.internal, r.command, r.value.clone());
            let retries = self.config.query_retries;
            // capacity was checked above, so this cannot fail
            let _ = self.send_request(now, addr, internal, cmd, Some(target), value, None, retries, Purpose::Query(id));
        }
        if self.queries.get(&id.0).is_some_and(|r| r.q.is_finished())
            && let Some(r) = self.queries.remove(&id.0)
            && !r.background
        {
            self.push_event(Event::QueryFinished { id, closest: r.q.closest().to_vec() });
        }
    }

    /// Sends `req` once with the caller's transaction id and tracks no reply (dht-rpc's
    /// `Request.relay`: a relay forwards a request with the original sender's tid).
    pub fn send_raw_request(&mut self, to: SocketAddrV4, mut req: Request) {
        req.to = to;
        req.id = self.send_id();
        let bytes = req.encode();
        self.push_transmit(Transmit { to, bytes });
    }

    /// Sends `res` to `to` as it is (a relay's answer on behalf of another node).
    pub fn send_raw_response(&mut self, to: SocketAddrV4, mut res: Response) {
        res.to = to;
        res.id = self.send_id();
        let bytes = res.encode();
        self.push_transmit(Transmit { to, bytes });
    }

    /// Whether this node sends its id (persistent) or not (ephemeral).
    pub fn is_persistent(&self) -> bool {
        !self.config.ephemeral
    }

    fn pump_all(&mut self, now: Instant) {
        let ids: Vec<u64> = self.queries.keys().copied().collect();
        for id in ids {
            self.pump_query(now, QueryId(id));
        }
    }

    fn learn(&mut self, now: Instant, from: SocketAddrV4, id: Option<Id>) -> Option<Id> {
        let id = id.filter(|id| *id == node_id(from))?;
        let t = self.tick;
        if let Some(n) = self.table.get_mut(&id) {
            n.seen = t;
        } else {
            let node = Node { id, addr: from, added: t, pinged: t, seen: t };
            if let AddOutcome::RowFull(row) = self.table.add(node.clone()) {
                self.on_row_full(now, node, row);
            }
        }
        Some(id)
    }

    /// One datagram from `from`. Non-dht-rpc datagrams give an error and change nothing.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddrV4, bytes: &[u8]) -> Result<(), MessageError> {
        match Message::decode(bytes)? {
            Message::Request(req) => self.on_request(now, from, req),
            Message::Response(res) => self.on_response(now, from, res),
        }
        self.pump_all(now);
        Ok(())
    }

    fn on_response(&mut self, now: Instant, from: SocketAddrV4, res: Response) {
        // dht-rpc matches responses by tid alone
        let Some(req) = self.in_flight.remove(&res.tid) else { return };
        let id = self.learn(now, from, res.id);
        match req.purpose {
            Purpose::User(rid) => self.push_event(Event::Response { id: rid, from, response: res }),
            Purpose::Query(qid) => {
                if let Some(r) = self.queries.get_mut(&qid.0) {
                    let reply = id.filter(|_| res.error == 0 && !r.background).map(|rid| Reply {
                        id: rid,
                        addr: from,
                        token: res.token,
                        value: res.value.clone(),
                    });
                    r.q.on_response(req.to, id, res.error, res.token, res.value, &res.closer_nodes);
                    if let Some(reply) = reply {
                        self.push_event(Event::QueryReply { id: qid, reply });
                    }
                }
                self.pump_query(now, qid);
            }
            // the old node answered: it keeps its place
            Purpose::Silent | Purpose::Swap(_) => {}
        }
    }

    /// Resends or expires due requests, rotates token secrets on drain ticks.
    pub fn handle_timeout(&mut self, now: Instant) {
        while now >= self.next_drain {
            self.next_drain += DRAIN_INTERVAL;
            self.tick += 1;
            self.down_hints = 0;
            self.secrets.tick();
        }
        self.upkeep(now);
        let due: Vec<u16> = self.in_flight.iter().filter(|(_, r)| r.deadline <= now).map(|(t, _)| *t).collect();
        for tid in due {
            let Some(r) = self.in_flight.get_mut(&tid) else { continue };
            if r.sends <= r.retries {
                r.sends += 1;
                r.deadline = now + self.config.timeout;
                let t = Transmit { to: r.to, bytes: r.bytes.clone() };
                self.push_transmit(t);
                continue;
            }
            let Some(r) = self.in_flight.remove(&tid) else { continue };
            self.table.remove(&node_id(r.to));
            match r.purpose {
                Purpose::User(id) => self.push_event(Event::Timeout { id, to: r.to }),
                Purpose::Query(qid) => {
                    let refs = match self.queries.get_mut(&qid.0) {
                        Some(q) => q.q.on_timeout(r.to),
                        None => Vec::new(),
                    };
                    for referrer in refs {
                        self.down_hint(now, referrer, r.to);
                    }
                }
                Purpose::Swap(newcomer) => {
                    self.table.add(*newcomer);
                }
                Purpose::Silent => {}
            }
        }
        self.pump_all(now);
    }

    fn down_hint(&mut self, now: Instant, to: SocketAddrV4, down: SocketAddrV4) {
        if self.down_hints >= DOWN_HINTS_PER_TICK {
            return;
        }
        self.down_hints += 1;
        let mut e = Encoder::new();
        e.ipv4_address(down);
        let _ = self.send_request(now, to, true, command::DOWN_HINT, None, Some(e.finish()), None, 3, Purpose::Silent);
    }
}
