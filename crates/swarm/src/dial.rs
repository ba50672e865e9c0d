//! Dialing: by address or by peer, with simultaneous dials to one peer deduplicated.

use std::sync::Arc;

use futures::FutureExt as _;
use rhizome_core::{Multiaddr, PeerId, SecurityError, Transport};
use tracing::{Instrument as _, debug};

use crate::address_book::DIALED_TTL;
use crate::connection::{Connection, Direction};
use crate::establish::{NewConnection, Refusal, establish};
use crate::routing::{Routed, route};
use crate::shared::Shared;
use crate::{DialError, Swarm, UpgradeError};

/// How long addresses found by a peer router are remembered.
pub const ROUTED_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 60);

impl Swarm {
    /// Dials `addr`. With a trailing `/p2p/<peer>`, the remote must prove that
    /// identity, and an existing connection to that peer is reused instead of dialing
    /// again (concurrent dials to one peer share one attempt).
    pub async fn dial(&self, addr: Multiaddr) -> Result<Connection, DialError> {
        let (base, peer) = rhizome_identity::split_peer_id(&addr);
        match peer {
            Some(peer) => {
                if let Some(conn) = self.connection_to(&peer) {
                    return Ok(conn);
                }
                // Joins a dial to this peer already in flight (whatever its addresses).
                dedup(&self.shared, peer, vec![base]).await
            }
            None => dial_addr(&self.shared, base, None).await,
        }
    }

    /// Connects to `peer`: reuses an open connection, or dials its known addresses
    /// (from the address book, `dial_concurrency` at a time). With no known address,
    /// asks the peer routers; with none registered, fails with
    /// [`DialError::NoAddresses`].
    pub async fn dial_peer(&self, peer: PeerId) -> Result<Connection, DialError> {
        self.connect_peer(peer, |pool| pool.connection_to(&peer)).await
    }

    /// Like `dial_peer`, but only an open connection that passes `usable` is reused.
    pub(crate) async fn connect_peer(
        &self,
        peer: PeerId,
        usable: impl Fn(&crate::pool::Pool) -> Option<Connection>,
    ) -> Result<Connection, DialError> {
        if peer == self.shared.local_peer {
            return Err(DialError::SelfDial);
        }
        if let Some(conn) = usable(&self.shared.pool()) {
            return Ok(conn);
        }
        let addrs = self.shared.addresses.get(&peer);
        if addrs.is_empty() && self.shared.routers.is_empty() {
            return Err(DialError::NoAddresses(peer));
        }
        dedup(&self.shared, peer, addrs).await
    }
}

/// Joins the dial to `peer` in flight, or starts one (as a task, so that it completes
/// even if every caller gives up).
async fn dedup(shared: &Arc<Shared>, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<Connection, DialError> {
    if peer == shared.local_peer {
        return Err(DialError::SelfDial);
    }
    let attempt = {
        let mut pool = shared.pool();
        if let Some((_, existing)) = pool.dials.get(&peer) {
            existing.clone()
        } else {
            let id = shared.next_id();
            let guard = DialEntry { shared: shared.clone(), peer, id };
            let task = shared.tasks.spawn(
                async move {
                    let result = dial_addrs(guard.shared.clone(), peer, addrs).await;
                    drop(guard);
                    result
                }
                .in_current_span(),
            );
            let fut = async move { task.await.unwrap_or(Err(DialError::Aborted)) }.boxed().shared();
            pool.dials.insert(peer, (id, fut.clone()));
            fut
        }
    };
    attempt.await
}

/// Removes its entry from the in-flight dials when the dial task ends, however it
/// ends (completion, panic, abort), so a failed attempt never poisons later dials.
struct DialEntry {
    shared: Arc<Shared>,
    peer: PeerId,
    id: u64,
}

impl Drop for DialEntry {
    fn drop(&mut self) {
        let mut pool = self.shared.pool();
        if pool.dials.get(&self.peer).is_some_and(|(id, _)| *id == self.id) {
            pool.dials.remove(&self.peer);
        }
    }
}

/// Dials `addrs`, or, when there are none, asks the peer routers first.
async fn dial_addrs(shared: Arc<Shared>, peer: PeerId, mut addrs: Vec<Multiaddr>) -> Result<Connection, DialError> {
    if addrs.is_empty() {
        let routers = shared.routers.snapshot();
        let span = tracing::debug_span!("route", %peer);
        match route(routers, peer, shared.config.route_timeout, || shared.pool().connection_to(&peer).is_some()).instrument(span).await {
            Routed::Connected => return shared.pool().connection_to(&peer).ok_or(DialError::Aborted),
            Routed::Addresses(found) => {
                for addr in &found {
                    shared.addresses.add(peer, addr.clone(), ROUTED_TTL);
                }
                addrs = found;
            }
            Routed::NotFound(last) => return Err(DialError::NotFound { peer, source: last.map(Arc::new) }),
        }
    }
    let attempts = addrs.len();
    race(&shared, peer, addrs).await.map_err(|last| {
        let last = last.unwrap_or(DialError::NoAddresses(peer));
        if attempts > 1 { DialError::AllAddressesFailed { attempts, last: Box::new(last) } } else { last }
    })
}

/// Dials up to `dial_concurrency` addresses at a time; the first connection wins.
/// On failure, returns the last error.
async fn race(shared: &Arc<Shared>, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<Connection, Option<DialError>> {
    let mut queue = addrs.into_iter();
    let mut running = futures::stream::FuturesUnordered::new();
    let mut last = None;
    loop {
        while running.len() < shared.config.dial_concurrency.max(1) {
            let Some(addr) = queue.next() else { break };
            running.push(async move { (addr.clone(), dial_addr(shared, addr, Some(peer)).await) });
        }
        let Some((addr, result)) = futures::StreamExt::next(&mut running).await else {
            return Err(last);
        };
        match result {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                debug!(%peer, %addr, error = %e, "dial attempt failed");
                if matches!(e, DialError::Transport { .. } | DialError::Timeout(_)) {
                    shared.addresses.remove(&peer, &addr);
                }
                last = Some(e);
            }
        }
    }
}

fn pick_transport<'a>(shared: &'a Shared, addr: &Multiaddr) -> Option<&'a dyn Transport> {
    shared.transports.iter().find(|t| t.supports(addr)).map(|t| t.as_ref())
}

/// One dial, counted in the stats when it fails.
pub(crate) async fn dial_addr(shared: &Arc<Shared>, addr: Multiaddr, expected: Option<PeerId>) -> Result<Connection, DialError> {
    let result = dial_addr_uncounted(shared, addr, expected).await;
    match &result {
        Err(DialError::Upgrade(e)) => shared.stats.handshake_failure(e.cause()),
        Err(DialError::WrongPeer { .. }) => shared.stats.handshake_failure("wrong_peer"),
        Err(DialError::Denied(limit)) => shared.stats.refusal(limit.as_str()),
        Err(DialError::Refused) => shared.stats.refusal("admission"),
        Err(DialError::SelfDial) => shared.stats.refusal("self"),
        _ => {}
    }
    result
}

/// One dial: transport connect, upgrade, establish.
async fn dial_addr_uncounted(shared: &Arc<Shared>, addr: Multiaddr, expected: Option<PeerId>) -> Result<Connection, DialError> {
    if shared.is_closing() {
        return Err(DialError::Shutdown);
    }
    let _pending = shared.try_pending(Direction::Outbound).map_err(DialError::Denied)?;
    let transport = pick_transport(shared, &addr).ok_or_else(|| DialError::NoTransport(addr.clone()))?;
    let cfg = &shared.config;
    let raw = tokio::time::timeout(cfg.dial_timeout, transport.dial(&addr))
        .await
        .map_err(|_| DialError::Timeout(addr.clone()))?
        .map_err(|e| DialError::Transport { addr: addr.clone(), source: Arc::new(e) })?;
    let io = crate::stats::CountingIo::wrap(raw.io, shared.stats.clone());
    let (peer, muxed) = tokio::time::timeout(cfg.upgrade_timeout, shared.upgrader.outbound(io, expected))
        .await
        .map_err(|_| DialError::Upgrade(UpgradeError::Timeout))?
        .map_err(|e| match e {
            UpgradeError::Security(ref s) => match **s {
                SecurityError::WrongPeer { expected, actual } => DialError::WrongPeer { expected, actual },
                _ => DialError::Upgrade(e),
            },
            other => DialError::Upgrade(other),
        })?;
    let new = NewConnection {
        peer,
        local_addr: raw.local_addr,
        remote_addr: raw.remote_addr,
        direction: Direction::Outbound,
        transport: transport.name(),
        muxed,
    };
    match establish(shared, new) {
        Ok(conn) => {
            shared.addresses.add(peer, addr, DIALED_TTL);
            Ok(conn)
        }
        Err(Refusal::Limit(limit)) => Err(DialError::Denied(limit)),
        Err(Refusal::Admission) => Err(DialError::Refused),
        Err(Refusal::SelfConnection) => Err(DialError::SelfDial),
        Err(Refusal::Shutdown) => Err(DialError::Shutdown),
    }
}
