//! Listening: one accept task per listener, upgrades bounded by the pending limit.

use std::sync::Arc;
use std::time::Duration;

use rhizome_core::{Listener, Multiaddr, RawConn, TransportError};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, debug, info, warn};

use crate::connection::{Direction, ListenerId};
use crate::establish::{NewConnection, Refusal, establish};
use crate::events::IncomingError;
use crate::pending::ProgressIo;
use crate::pool::ListenerEntry;
use crate::shared::Shared;
use crate::stats::CountingIo;
use crate::{ListenError, Swarm, SwarmEvent, UpgradeError};

/// First pause after a transient accept error (e.g. out of file descriptors)…
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(20);
/// …doubling up to this; the listener never gives up on transient errors.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

impl Swarm {
    /// Starts listening on `addr` (port 0 picks a free port). Returns the listener id
    /// and the address actually bound.
    pub async fn listen(&self, addr: Multiaddr) -> Result<(ListenerId, Multiaddr), ListenError> {
        let shared = &self.shared;
        if shared.is_closing() {
            return Err(ListenError::Shutdown);
        }
        if shared.pool().listeners.len() >= shared.config.max_listeners {
            return Err(ListenError::TooManyListeners);
        }
        let transport = shared.transports.iter().find(|t| t.supports(&addr)).ok_or_else(|| ListenError::NoTransport(addr.clone()))?;
        let listener = transport.listen(&addr).await.map_err(|source| ListenError::Transport { addr: addr.clone(), source })?;
        let bound = listener.local_addr();
        let id = ListenerId(shared.next_id());
        let cancel = shared.cancel.child_token();
        shared.pool().listeners.insert(id, ListenerEntry { addr: bound.clone(), cancel: cancel.clone() });
        info!(%bound, "listening");
        shared.emit(SwarmEvent::Listening { listener: id, addr: bound.clone() });
        let span = tracing::debug_span!("listener", %id, addr = %bound);
        shared.tasks.spawn(accept_loop(shared.clone(), listener, transport.name(), id, cancel).instrument(span));
        Ok((id, bound))
    }

    /// Stops a listener; returns whether it existed.
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        match self.shared.pool().listeners.get(&id) {
            Some(l) => {
                l.cancel.cancel();
                true
            }
            None => false,
        }
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    mut listener: Box<dyn Listener>,
    transport: &'static str,
    id: ListenerId,
    cancel: CancellationToken,
) {
    let addr = listener.local_addr();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut fatal = None;
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok(raw) => {
                backoff = ACCEPT_BACKOFF_MIN;
                accept_one(&shared, raw, transport);
            }
            Err(e) => {
                let error = Arc::new(e);
                if is_fatal(&error) {
                    warn!(error = %error, "listener failed");
                    fatal = Some(error);
                    break;
                }
                // Out of file descriptors and the like pass: wait and keep listening.
                warn!(error = %error, ?backoff, "accept failed, retrying");
                shared.emit(SwarmEvent::ListenError { listener: id, error });
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
        }
    }
    shared.pool().listeners.remove(&id);
    shared.emit(SwarmEvent::ListenerClosed { listener: id, addr, error: fatal });
}

/// Errors after which the listener cannot work again (its socket or channel is gone).
fn is_fatal(e: &TransportError) -> bool {
    match e {
        TransportError::Io(io) => {
            matches!(io.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::InvalidInput) || io.raw_os_error() == Some(9)
        }
        _ => false,
    }
}

fn accept_one(shared: &Arc<Shared>, raw: RawConn, transport: &'static str) {
    let remote_addr = raw.remote_addr.clone();
    let refuse = |limit| {
        debug!(%remote_addr, %limit, "refusing inbound connection");
        shared.emit(SwarmEvent::IncomingConnectionError { remote_addr: remote_addr.clone(), error: IncomingError::Denied(limit) });
    };
    if shared.is_closing() {
        return;
    }
    // Refuse early, before spending an upgrade, when established slots are full.
    if let Err(limit) = shared.pool().inbound_room(&shared.config) {
        return refuse(limit);
    }
    let (pending, slot, evicted) = shared.pending_inbound(&raw.remote_addr);
    if evicted {
        debug!(%remote_addr, "pending inbound connections full: evicted the least active one");
    }
    let shared2 = shared.clone();
    let span = tracing::debug_span!("upgrade", remote_addr = %raw.remote_addr);
    shared.tasks.spawn(
        async move {
            let shared = shared2;
            let _pending = pending;
            let RawConn { io, local_addr, remote_addr } = raw;
            let io = CountingIo::wrap(Box::new(ProgressIo::new(io, slot.progress.clone())), shared.stats.clone());
            let first_byte = async {
                tokio::time::sleep(shared.config.first_byte_timeout).await;
                if slot.progress.any() {
                    std::future::pending::<()>().await;
                }
            };
            let upgraded = tokio::select! {
                r = tokio::time::timeout(shared.config.upgrade_timeout, shared.upgrader.inbound(io)) => r,
                _ = slot.evicted.cancelled() => {
                    shared.stats.handshake_failure("evicted");
                    return debug!("evicted from the pending pool");
                }
                _ = first_byte => {
                    shared.stats.handshake_failure("silent");
                    return debug!("no handshake byte in time: dropping");
                }
                _ = shared.cancel.cancelled() => return,
            };
            let error = match upgraded {
                Ok(Ok((peer, muxed))) => {
                    let new = NewConnection {
                        peer,
                        local_addr,
                        remote_addr: remote_addr.clone(),
                        direction: Direction::Inbound,
                        transport,
                        muxed,
                    };
                    match establish(&shared, new) {
                        Ok(_) | Err(Refusal::Shutdown) => return,
                        Err(Refusal::Limit(limit)) => IncomingError::Denied(limit),
                        Err(Refusal::Admission) => IncomingError::Refused,
                        Err(Refusal::SelfConnection) => IncomingError::SelfConnection,
                    }
                }
                Ok(Err(e)) => IncomingError::Upgrade(e),
                Err(_) => IncomingError::Upgrade(UpgradeError::Timeout),
            };
            debug!(error = %error, "inbound connection failed");
            shared.emit(SwarmEvent::IncomingConnectionError { remote_addr, error });
        }
        .instrument(span),
    );
}
