//! The inbound protocol handler registry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use futures::future::BoxFuture;
use rhizome_core::ProtocolId;
use rhizome_multistream::ProtocolSet;

use crate::Stream;

/// Serves one inbound stream. Runs in a task of its own; when it returns, the
/// stream is dropped (reset unless the handler closed it).
pub type Handler = Arc<dyn Fn(Stream) -> BoxFuture<'static, ()> + Send + Sync>;

/// Options for one protocol handler.
#[derive(Debug, Clone, Default)]
pub struct HandlerOpts {
    /// Concurrent inbound streams of this protocol per connection; further streams are
    /// reset. `None`: the swarm's `default_max_inbound_streams`. A connection keeps the
    /// limit it first saw for a protocol: replacing the handler with another limit
    /// applies to new connections.
    pub max_inbound_streams: Option<usize>,
}

#[derive(Clone)]
pub(crate) struct HandlerEntry {
    pub(crate) handler: Handler,
    pub(crate) max_inbound_streams: usize,
}

/// Registered handlers by protocol.
#[derive(Default)]
pub(crate) struct Registry {
    map: RwLock<HashMap<ProtocolId, HandlerEntry>>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ProtocolId, HandlerEntry>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, protocol: ProtocolId, entry: HandlerEntry) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).insert(protocol, entry);
    }

    pub(crate) fn remove(&self, protocol: &str) -> bool {
        self.map.write().unwrap_or_else(|e| e.into_inner()).remove(protocol).is_some()
    }

    /// Removes the handler for `protocol` only if it is `handler` (not a later one).
    pub(crate) fn remove_if_same(&self, protocol: &str, handler: &Handler) -> bool {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.get(protocol).is_some_and(|e| Arc::ptr_eq(&e.handler, handler)) {
            map.remove(protocol);
            return true;
        }
        false
    }

    pub(crate) fn get(&self, protocol: &str) -> Option<HandlerEntry> {
        self.read().get(protocol).cloned()
    }
}

impl ProtocolSet for Registry {
    fn find(&self, name: &str) -> Option<ProtocolId> {
        self.read().get_key_value(name).map(|(k, _)| k.clone())
    }

    fn list(&self) -> Vec<ProtocolId> {
        let mut list: Vec<ProtocolId> = self.read().keys().cloned().collect();
        list.sort();
        list
    }
}
