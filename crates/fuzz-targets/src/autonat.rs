//! AutoNAT v1 messages and the server's address filter.

use rhizome_autonat::{DialRequest, DialResponse, dialable_addrs};
use rhizome_core::Multiaddr;

/// A DIAL (then the server's same-IP filter on its addresses) and a DIAL_RESPONSE.
pub(crate) fn autonat_message(data: &[u8]) {
    if let Ok(request) = DialRequest::decode(data) {
        let observed: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().unwrap_or_else(|_| Multiaddr::empty());
        let _ = dialable_addrs(request.peer, &observed, &request.addrs, 16);
        let _ = request.encode();
    }
    if let Ok(response) = DialResponse::decode(data) {
        let _ = response.encode();
    }
}
