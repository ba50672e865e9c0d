//! One request/response exchange: the outbound side, and the inbound handler that
//! serves several requests per stream (go-libp2p reuses streams).

use rhizome_core::framing;
use rhizome_node::{HandlerOpts, Node, PeerId, Stream, StreamCtx};
use tokio::io::AsyncWriteExt as _;
use tracing::{debug, trace};

use super::{Kademlia, now};
use crate::PROTOCOL;
use crate::error::RequestError;
use crate::event::Event;
use crate::message::{Peer, Request, Response};

/// Registers the inbound handler (server mode).
pub(super) fn register(kad: &Kademlia, node: &Node) {
    let kad = kad.clone();
    let opts = HandlerOpts { max_inbound_streams: Some(kad.inner.config.max_inbound_streams) };
    node.handle_with(
        PROTOCOL,
        move |stream: Stream, ctx: StreamCtx| {
            let kad = kad.clone();
            async move {
                let result = kad.serve(stream, ctx).await;
                // A bad message, not a stream the remote reset or a connection that died.
                let malformed = match &result {
                    Err(RequestError::Framing(rhizome_core::framing::FramingError::Io(_))) => false,
                    Err(RequestError::Framing(_) | RequestError::Wire(_)) => true,
                    _ => false,
                };
                if malformed {
                    kad.inner.malformed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                result
            }
        },
        opts,
    );
}

impl Kademlia {
    /// Serves requests on one inbound stream until EOF, an idle timeout, a bad
    /// message (the stream is then reset) or `max_requests_per_stream`.
    async fn serve(&self, mut stream: Stream, ctx: StreamCtx) -> Result<(), RequestError> {
        let config = &self.inner.config;
        let mut served = 0;
        while served < config.max_requests_per_stream {
            let read = framing::read_length_prefixed_opt(&mut stream, config.max_message_size);
            let bytes = tokio::select! {
                _ = ctx.shutdown.cancelled() => return Ok(()),
                r = tokio::time::timeout(config.inbound_idle_timeout, read) => match r {
                    Err(_) => return Ok(()),
                    Ok(Ok(None)) => break,
                    Ok(Ok(Some(b))) => b,
                    Ok(Err(e)) => return Err(e.into()),
                },
            };
            served += 1;
            let request = Request::decode(&bytes)?;
            trace!(peer = %ctx.peer, kind = ?request.message_type(), "kad request");
            let Some(response) = self.answer(&ctx.peer, request)? else {
                continue;
            };
            let out = response.encode();
            if out.len() > config.max_message_size {
                return Err(RequestError::TooLarge(out.len()));
            }
            framing::write_length_prefixed(&mut stream, &out).await?;
            stream.flush().await?;
        }
        if !self.inner.core().table.contains(&ctx.peer) {
            self.probe_later(ctx.peer);
        }
        let _ = stream.shutdown().await;
        Ok(())
    }

    /// Answers one request through the core; FIND_NODE answers put the target first
    /// when we know its addresses, and entries without addresses get them from the
    /// address book.
    fn answer(&self, from: &PeerId, request: Request) -> Result<Option<Response>, RequestError> {
        let node = self.inner.node().ok_or(RequestError::NodeGone)?;
        let target = match &request {
            Request::FindNode { key } => PeerId::from_bytes(key).ok(),
            _ => None,
        };
        let local_addrs = self.local_addrs(&node);
        let result = self.inner.core().handle_request(from, request, &local_addrs, now());
        let mut response = match result {
            Ok(r) => r,
            Err(e) => {
                debug!(peer = %from, error = %e, "kad request refused");
                self.inner.emit(Event::InboundRefused { peer: *from });
                return Err(e.into());
            }
        };
        if let Some(Response::FindNode { closer } | Response::GetValue { closer, .. } | Response::GetProviders { closer, .. }) =
            response.as_mut()
        {
            if let Some(t) = target.filter(|t| t != from && *t != self.inner.local && !closer.iter().any(|p| p.id == *t)) {
                let addrs = node.address_book().get(&t);
                if !addrs.is_empty() {
                    closer.insert(0, Peer { id: t, addrs });
                    closer.truncate(self.inner.config.query.k);
                }
            }
            for p in closer.iter_mut().filter(|p| p.addrs.is_empty()) {
                p.addrs = node.address_book().get(&p.id);
            }
            closer.retain(|p| !p.addrs.is_empty());
        }
        Ok(response)
    }

    /// Our addresses for provider records: confirmed external ones, then listen
    /// addresses that are not unspecified (`0.0.0.0`).
    pub(crate) fn local_addrs(&self, node: &Node) -> Vec<rhizome_node::Multiaddr> {
        let mut addrs = node.external_addrs();
        for a in node.listen_addrs() {
            let unspecified = a.iter().any(|p| match p {
                rhizome_identity::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
                rhizome_identity::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
                _ => false,
            });
            if !unspecified && !addrs.contains(&a) {
                addrs.push(a);
            }
        }
        addrs.truncate(crate::table::MAX_ENTRY_ADDRS);
        addrs
    }

    /// Sends `request` to `peer` and reads the answer (none for ADD_PROVIDER), under
    /// the request timeout. Never asks peer routers: the peer must be connected or
    /// have a known address.
    pub(crate) async fn request(&self, peer: PeerId, request: &Request) -> Result<Option<Response>, RequestError> {
        let node = self.inner.node().ok_or(RequestError::NodeGone)?;
        if node.connection_to(&peer).is_none() && node.address_book().get(&peer).is_empty() {
            return Err(RequestError::NoAddress);
        }
        let limit = self.inner.config.query.request_timeout;
        let max = self.inner.config.max_message_size;
        let exchange = async {
            let mut stream = node.open_stream(peer, PROTOCOL).await?;
            drop(node);
            exchange(&mut stream, request, max).await
        };
        tokio::time::timeout(limit, exchange).await.unwrap_or(Err(RequestError::Timeout))
    }
}

/// Writes `request` on `stream` and reads the answer, if one is due.
pub(crate) async fn exchange(stream: &mut Stream, request: &Request, max: usize) -> Result<Option<Response>, RequestError> {
    let bytes = request.encode();
    if bytes.len() > max {
        return Err(RequestError::TooLarge(bytes.len()));
    }
    framing::write_length_prefixed(stream, &bytes).await?;
    stream.flush().await?;
    if !request.expects_response() {
        stream.shutdown().await?;
        return Ok(None);
    }
    let answer = framing::read_length_prefixed(stream, max).await?;
    let response = Response::decode(&answer, request.message_type())?;
    let _ = stream.shutdown().await;
    Ok(Some(response))
}
