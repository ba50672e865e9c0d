//! The tokio glue: one task takes the [`Dht`]'s hyperdht requests
//! ([`Dht::take_requests`]), runs them through a [`Store`] and sends the answers.

use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use super::{Action, Limits, Store, StoreRequest, StoreStats};
use crate::message::Response;
use crate::node::{Incoming, OutRequest};
use crate::{Dht, DhtError};

/// A running storing node task. Dropping it stops serving (the [`Dht`] keeps running and
/// answers hyperdht commands UNKNOWN_COMMAND again).
#[derive(Debug)]
pub struct ServeHandle {
    store: Arc<Mutex<Store>>,
    task: JoinHandle<()>,
}

impl Drop for ServeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ServeHandle {
    /// The store's current sizes.
    pub fn stats(&self) -> StoreStats {
        self.store.lock().map(|s| s.stats()).unwrap_or_default()
    }
}

/// Why [`serve`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The node is ephemeral: hyperdht stores nothing on ephemeral nodes.
    #[error("an ephemeral node does not store records")]
    Ephemeral,
    /// Another task already takes this node's requests.
    #[error("the node's requests are already taken")]
    AlreadyServed,
    /// The DHT failed.
    #[error(transparent)]
    Dht(#[from] DhtError),
}

/// Serves hyperdht's storage and relay commands on a persistent `dht` with `limits`.
/// Requests for targets registered with [`Dht::register_target`] (our own servers) do not
/// come here.
pub fn serve(dht: Arc<Dht>, limits: Limits) -> Result<ServeHandle, ServeError> {
    if !dht.is_persistent() {
        return Err(ServeError::Ephemeral);
    }
    let mut rx = dht.take_requests().ok_or(ServeError::AlreadyServed)?;
    let store = Arc::new(Mutex::new(Store::new(dht.id(), limits)));
    let shared = store.clone();
    let task = tokio::spawn(async move {
        while let Some(inc) = rx.recv().await {
            let action = {
                let Ok(mut s) = shared.lock() else { return };
                handle(&mut s, &inc)
            };
            answer(&dht, inc, action).await;
        }
    });
    Ok(ServeHandle { store, task })
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn handle(store: &mut Store, inc: &Incoming) -> Action {
    let r = &inc.request;
    let req = StoreRequest { from: inc.from, tid: r.tid, command: r.command, target: r.target, token: r.token, value: r.value.as_deref() };
    store.handle(req, Instant::now(), unix_ms())
}

async fn answer(dht: &Dht, inc: Incoming, action: Action) {
    let sent = match action {
        Action::Reply { error, value } => {
            inc.reply(error, value);
            Ok(())
        }
        Action::ReplyBare => {
            inc.reply_bare(0, None);
            Ok(())
        }
        Action::Forward { to, tid, command, target, value } => {
            tracing::debug!(%to, tid, command, "relaying");
            inc.ignore();
            dht.send_request_raw(to, tid, OutRequest::new(command).target(target).value(value)).await
        }
        Action::Respond { to, tid, value } => {
            inc.ignore();
            let res = Response { tid, to, id: None, token: None, closer_nodes: Vec::new(), error: 0, value: Some(value) };
            dht.send_response_raw(to, res).await
        }
        _ => {
            inc.ignore();
            Ok(())
        }
    };
    if let Err(e) = sent {
        tracing::debug!("storing node send failed: {e}");
    }
}

/// A persistent DHT node that stores and relays (a [`Dht`] with `ephemeral: false` plus
/// [`serve`]). Dropping it stops both.
#[derive(Debug)]
pub struct PersistentNode {
    // Field order: the serve task stops before the DHT it holds a reference to.
    serve: ServeHandle,
    dht: Arc<Dht>,
}

impl PersistentNode {
    /// Binds `addr`, bootstraps from `bootstrap` (empty for the first node of a network) and
    /// starts serving with the default [`Limits`].
    pub async fn bind(addr: std::net::SocketAddrV4, bootstrap: Vec<std::net::SocketAddrV4>) -> Result<Self, ServeError> {
        Self::bind_with(addr, bootstrap, crate::rpc::Config::default(), Limits::default()).await
    }

    /// Like [`PersistentNode::bind`] with an explicit dht-rpc config (its `ephemeral` is
    /// forced to false) and store limits.
    pub async fn bind_with(
        addr: std::net::SocketAddrV4,
        bootstrap: Vec<std::net::SocketAddrV4>,
        mut config: crate::rpc::Config,
        limits: Limits,
    ) -> Result<Self, ServeError> {
        config.ephemeral = false;
        let dht = Arc::new(Dht::bind(addr, bootstrap, config).await?);
        let serve = serve(dht.clone(), limits)?;
        Ok(Self { serve, dht })
    }

    /// The DHT (for queries of our own, its address, its id).
    pub fn dht(&self) -> &Arc<Dht> {
        &self.dht
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::net::SocketAddrV4 {
        self.dht.local_addr()
    }

    /// The store's current sizes.
    pub fn stats(&self) -> StoreStats {
        self.serve.stats()
    }
}
