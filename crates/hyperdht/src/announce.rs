//! Client writes: [`Dht::announce`] and [`Dht::unannounce`] on a topic, and the
//! announce-self a server uses to make the closest nodes its relays.
//!
//! Each ANNOUNCE/UNANNOUNCE goes to one storing node with the token that node gave us in
//! the query, signed over that node's id and token (`wire::sign`). Tokens live 7.5–15 s,
//! so the commit follows the query at once.

use std::net::SocketAddrV4;

use futures::future::join_all;
use rhizome_secret_stream::Keypair;

use crate::message::Id;
use crate::node::{Dht, DhtError, OutRequest};
use crate::query::Reply;
use crate::wire::ns::command;
use crate::wire::records::{Announce, LookupReply, PeerRecord};
use crate::wire::sign::{sign_announce, sign_unannounce};

/// Nodes an announce-self goes to (they become the server's relays), as Node's Announcer.
pub const SERVER_RELAYS: usize = 3;

impl Dht {
    /// Announces `keypair`'s public key on `topic` with `relay_addresses` (the relays of our
    /// server, at most 3 are kept by storing nodes): a LOOKUP query, then a signed ANNOUNCE
    /// to each of the k closest nodes that gave a token. Returns once every ANNOUNCE was
    /// answered or timed out; `Err(Timeout)` when no node stored the record.
    pub async fn announce(&self, topic: &[u8; 32], keypair: &Keypair, relay_addresses: &[SocketAddrV4]) -> Result<(), DhtError> {
        let closest = self.query(*topic, command::LOOKUP, None).await?.finish().await?;
        let peer = PeerRecord { public_key: keypair.public_key(), relay_addresses: relay_addresses.to_vec() };
        let stored = self.commit_announces(&closest, topic, keypair, &peer).await;
        if stored.is_empty() { Err(DhtError::Timeout) } else { Ok(()) }
    }

    /// Removes our record from `topic`: a LOOKUP query, and a signed UNANNOUNCE to every node
    /// whose reply lists our key (or is full), as Node's `lookupAndUnannounce`.
    pub async fn unannounce(&self, topic: &[u8; 32], keypair: &Keypair) -> Result<(), DhtError> {
        let pk = keypair.public_key();
        let mut q = self.query(*topic, command::LOOKUP, None).await?;
        let mut holders = Vec::new();
        while let Some(r) = q.next().await {
            let Some(l) = r.value.as_deref().and_then(|v| LookupReply::decode(v).ok()) else { continue };
            if r.token.is_some() && (l.peers.len() >= 20 || l.peers.iter().any(|p| p.public_key == pk)) {
                holders.push(r);
            }
        }
        let peer = PeerRecord { public_key: pk, relay_addresses: Vec::new() };
        join_all(holders.iter().map(|r| self.unannounce_at(r.addr, r.id, r.token, topic, keypair, &peer))).await;
        Ok(())
    }

    /// ANNOUNCE `peer` on `target` to each reply with a token, in parallel; the replies that
    /// answered with error 0.
    pub(crate) async fn commit_announces<'a>(
        &self,
        replies: &'a [Reply],
        target: &Id,
        keypair: &Keypair,
        peer: &PeerRecord,
    ) -> Vec<&'a Reply> {
        let sends = replies.iter().filter(|r| r.token.is_some()).map(|r| async move {
            let token = r.token?;
            let signature = sign_announce(keypair, target, &r.id, &token, peer);
            let value = Announce { peer: Some(peer.clone()), refresh: None, signature: Some(signature), bump: 0 }.encode();
            let req = OutRequest::new(command::ANNOUNCE).target(*target).token(token).value(value);
            match self.request(r.addr, req).await {
                Ok(res) if res.error == 0 => Some(r),
                Ok(res) => {
                    tracing::debug!(node = %r.addr, error = res.error, "hyperdht: announce refused");
                    None
                }
                Err(e) => {
                    tracing::debug!(node = %r.addr, error = %e, "hyperdht: announce failed");
                    None
                }
            }
        });
        join_all(sends).await.into_iter().flatten().collect()
    }

    /// One signed UNANNOUNCE to `to` (whose id and token we have).
    pub(crate) async fn unannounce_at(
        &self,
        to: SocketAddrV4,
        node_id: Id,
        token: Option<Id>,
        target: &Id,
        keypair: &Keypair,
        peer: &PeerRecord,
    ) -> Result<(), DhtError> {
        let token = token.ok_or(DhtError::Timeout)?;
        let signature = sign_unannounce(keypair, target, &node_id, &token, peer);
        let value = Announce { peer: Some(peer.clone()), refresh: None, signature: Some(signature), bump: 0 }.encode();
        self.request(to, OutRequest::new(command::UNANNOUNCE).target(*target).token(token).value(value)).await.map(|_| ())
    }

    /// A server's announce-self: FIND_PEER query on `hash(pk)`, then ANNOUNCE (no relays
    /// in the record) to the [`SERVER_RELAYS`] closest. The nodes that stored it hold our
    /// router entry and forward PEER_HANDSHAKEs to the address we sent from.
    pub(crate) async fn announce_self(&self, keypair: &Keypair, target: &Id) -> Result<Vec<SocketAddrV4>, DhtError> {
        let closest = self.query(*target, command::FIND_PEER, None).await?.finish().await?;
        let best: Vec<Reply> = closest.into_iter().filter(|r| r.token.is_some()).take(SERVER_RELAYS).collect();
        let peer = PeerRecord { public_key: keypair.public_key(), relay_addresses: Vec::new() };
        Ok(self.commit_announces(&best, target, keypair, &peer).await.into_iter().map(|r| r.addr).collect())
    }

    /// Removes our router entry from `relay`: FIND_PEER for a fresh token, then UNANNOUNCE
    /// (Node's `Announcer._unannounce`).
    pub(crate) async fn unannounce_self(&self, relay: SocketAddrV4, keypair: &Keypair, target: &Id) -> Result<(), DhtError> {
        let res = self.request(relay, OutRequest::new(command::FIND_PEER).target(*target)).await?;
        let (Some(id), Some(token)) = (res.id, res.token) else { return Ok(()) };
        let peer = PeerRecord { public_key: keypair.public_key(), relay_addresses: Vec::new() };
        self.unannounce_at(relay, id, Some(token), target, keypair, &peer).await
    }
}
