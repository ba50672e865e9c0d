//! Kademlia RPC messages as Rust types, and their protobuf encoding.
//!
//! Decoding is strict about what matters (the message type, a PUT_VALUE record whose
//! key matches) and lenient about what does not: peers with undecodable ids and
//! undecodable addresses are skipped, unknown fields ignored.

use std::time::Duration;

use prost::Message as _;
use rhizome_node::{Multiaddr, PeerId};

use crate::proto;
use crate::proto::message::MessageType;

/// Addresses kept per peer entry of a decoded message (the rest are dropped).
pub const MAX_ADDRS_PER_PEER: usize = 16;
/// Peer entries kept per list of a decoded message (closer peers, providers).
pub const MAX_PEERS_PER_MESSAGE: usize = 64;

/// A peer as it travels in messages: its id and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// The peer id.
    pub id: PeerId,
    /// Its addresses (without `/p2p/`).
    pub addrs: Vec<Multiaddr>,
}

/// A record: a key, a value, and what we know of its origin and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// The original publisher, when known (field 666).
    pub publisher: Option<PeerId>,
    /// The remaining lifetime the sender asks for (field 777), when set.
    pub ttl: Option<Duration>,
}

impl Record {
    /// A record with no publisher and no TTL.
    pub fn new(key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        Self { key: key.into(), value: value.into(), publisher: None, ttl: None }
    }
}

/// A request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// The peers closest to `key` (a peer id's bytes, or any key).
    FindNode {
        /// The target.
        key: Vec<u8>,
    },
    /// The record stored under `key`, and closer peers.
    GetValue {
        /// The key.
        key: Vec<u8>,
    },
    /// Store `record`.
    PutValue {
        /// The record.
        record: Record,
    },
    /// The sender provides `key` (no response).
    AddProvider {
        /// The provided key (a multihash).
        key: Vec<u8>,
        /// The providers (only the sender's own entry is accepted).
        providers: Vec<Peer>,
    },
    /// Providers of `key`, and closer peers.
    GetProviders {
        /// The key.
        key: Vec<u8>,
    },
    /// Deprecated liveness check; answered, never sent by us.
    Ping,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Response {
    /// To FIND_NODE.
    FindNode {
        /// Closest peers known to the responder.
        closer: Vec<Peer>,
    },
    /// To GET_VALUE.
    GetValue {
        /// The record, if the responder holds it.
        record: Option<Record>,
        /// Closer peers.
        closer: Vec<Peer>,
    },
    /// To PUT_VALUE: the stored record echoed.
    PutValue {
        /// The key.
        key: Vec<u8>,
        /// The record.
        record: Option<Record>,
    },
    /// To GET_PROVIDERS.
    GetProviders {
        /// Known providers.
        providers: Vec<Peer>,
        /// Closer peers.
        closer: Vec<Peer>,
    },
    /// To PING.
    Ping,
}

/// A message that is not a valid Kademlia message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not a valid protobuf.
    #[error("invalid kad protobuf")]
    Decode(#[from] prost::DecodeError),
    /// A message type we do not know.
    #[error("unknown kad message type {0}")]
    UnknownType(i32),
    /// A response of another type than the request.
    #[error("response type {got:?} to a {expected:?} request")]
    UnexpectedType {
        /// The request's type.
        expected: MessageType,
        /// The response's type.
        got: MessageType,
    },
    /// PUT_VALUE without a record.
    #[error("PUT_VALUE without a record")]
    MissingRecord,
    /// PUT_VALUE whose message key differs from its record key.
    #[error("PUT_VALUE key differs from the record key")]
    KeyMismatch,
}

impl Request {
    /// The protobuf message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Request::FindNode { .. } => MessageType::FindNode,
            Request::GetValue { .. } => MessageType::GetValue,
            Request::PutValue { .. } => MessageType::PutValue,
            Request::AddProvider { .. } => MessageType::AddProvider,
            Request::GetProviders { .. } => MessageType::GetProviders,
            Request::Ping => MessageType::Ping,
        }
    }

    /// Whether the responder answers (every request but ADD_PROVIDER).
    pub fn expects_response(&self) -> bool {
        !matches!(self, Request::AddProvider { .. })
    }

    /// Encodes as a protobuf (no length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut msg = proto::Message { r#type: self.message_type() as i32, ..Default::default() };
        match self {
            Request::FindNode { key } | Request::GetValue { key } | Request::GetProviders { key } => msg.key = key.clone(),
            Request::PutValue { record } => {
                msg.key = record.key.clone();
                msg.record = Some(record_to_proto(record));
            }
            Request::AddProvider { key, providers } => {
                msg.key = key.clone();
                msg.provider_peers = providers.iter().map(peer_to_proto).collect();
            }
            Request::Ping => {}
        }
        msg.encode_to_vec()
    }

    /// Decodes a protobuf request.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let msg = proto::Message::decode(bytes)?;
        let kind = MessageType::try_from(msg.r#type).map_err(|_| WireError::UnknownType(msg.r#type))?;
        Ok(match kind {
            MessageType::FindNode => Request::FindNode { key: msg.key },
            MessageType::GetValue => Request::GetValue { key: msg.key },
            MessageType::GetProviders => Request::GetProviders { key: msg.key },
            MessageType::Ping => Request::Ping,
            MessageType::AddProvider => Request::AddProvider { providers: peers_from_proto(msg.provider_peers), key: msg.key },
            MessageType::PutValue => {
                let record = msg.record.ok_or(WireError::MissingRecord)?;
                if record.key != msg.key {
                    return Err(WireError::KeyMismatch);
                }
                Request::PutValue { record: record_from_proto(record) }
            }
        })
    }
}

impl Response {
    /// The protobuf message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Response::FindNode { .. } => MessageType::FindNode,
            Response::GetValue { .. } => MessageType::GetValue,
            Response::PutValue { .. } => MessageType::PutValue,
            Response::GetProviders { .. } => MessageType::GetProviders,
            Response::Ping => MessageType::Ping,
        }
    }

    /// Encodes as a protobuf (no length prefix).
    pub fn encode(&self) -> Vec<u8> {
        let mut msg = proto::Message { r#type: self.message_type() as i32, ..Default::default() };
        match self {
            Response::FindNode { closer } => msg.closer_peers = closer.iter().map(peer_to_proto).collect(),
            Response::GetValue { record, closer } => {
                msg.record = record.as_ref().map(record_to_proto);
                msg.closer_peers = closer.iter().map(peer_to_proto).collect();
            }
            Response::PutValue { key, record } => {
                msg.key = key.clone();
                msg.record = record.as_ref().map(record_to_proto);
            }
            Response::GetProviders { providers, closer } => {
                msg.provider_peers = providers.iter().map(peer_to_proto).collect();
                msg.closer_peers = closer.iter().map(peer_to_proto).collect();
            }
            Response::Ping => {}
        }
        msg.encode_to_vec()
    }

    /// Decodes a protobuf response to a request of type `expected`.
    pub fn decode(bytes: &[u8], expected: MessageType) -> Result<Self, WireError> {
        let msg = proto::Message::decode(bytes)?;
        let got = MessageType::try_from(msg.r#type).map_err(|_| WireError::UnknownType(msg.r#type))?;
        if got != expected {
            return Err(WireError::UnexpectedType { expected, got });
        }
        let closer = peers_from_proto(msg.closer_peers);
        Ok(match got {
            MessageType::FindNode => Response::FindNode { closer },
            MessageType::GetValue => Response::GetValue { record: msg.record.map(record_from_proto), closer },
            MessageType::PutValue => Response::PutValue { key: msg.key, record: msg.record.map(record_from_proto) },
            MessageType::GetProviders => Response::GetProviders { providers: peers_from_proto(msg.provider_peers), closer },
            MessageType::Ping => Response::Ping,
            MessageType::AddProvider => return Err(WireError::UnexpectedType { expected, got }),
        })
    }
}

fn peer_to_proto(peer: &Peer) -> proto::message::Peer {
    proto::message::Peer {
        id: peer.id.to_bytes(),
        addrs: peer.addrs.iter().map(|a| a.to_vec()).collect(),
        connection: proto::message::ConnectionType::NotConnected as i32,
    }
}

fn peers_from_proto(peers: Vec<proto::message::Peer>) -> Vec<Peer> {
    peers
        .into_iter()
        .take(MAX_PEERS_PER_MESSAGE)
        .filter_map(|p| {
            let id = PeerId::from_bytes(&p.id).ok()?;
            // rust-libp2p appends `/p2p/<id>`; we keep addresses without it.
            let addrs = p
                .addrs
                .into_iter()
                .filter_map(|a| Multiaddr::try_from(a).ok())
                .map(|a| rhizome_identity::split_peer_id(&a).0)
                .take(MAX_ADDRS_PER_PEER)
                .collect();
            Some(Peer { id, addrs })
        })
        .collect()
}

fn record_to_proto(record: &Record) -> proto::Record {
    proto::Record {
        key: record.key.clone(),
        value: record.value.clone(),
        time_received: String::new(),
        publisher: record.publisher.map(|p| p.to_bytes()).unwrap_or_default(),
        ttl: record.ttl.map(|t| t.as_secs().clamp(1, u64::from(u32::MAX)) as u32).unwrap_or(0),
    }
}

fn record_from_proto(record: proto::Record) -> Record {
    Record {
        key: record.key,
        value: record.value,
        publisher: PeerId::from_bytes(&record.publisher).ok(),
        ttl: (record.ttl > 0).then(|| Duration::from_secs(u64::from(record.ttl))),
    }
}

#[cfg(test)]
mod tests;
