//! Helpers for the `/p2p/<peer id>` suffix of multiaddrs.

use multiaddr::{Multiaddr, Protocol};

use crate::PeerId;

/// Splits a trailing `/p2p/<peer id>` off `addr`.
///
/// Returns the address without the suffix and the peer id, if there was one.
pub fn split_peer_id(addr: &Multiaddr) -> (Multiaddr, Option<PeerId>) {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(id)) => (base, Some(id)),
        _ => (addr.clone(), None),
    }
}

/// `addr` with `/p2p/<peer>` appended, unless it already ends in a `/p2p/` component.
pub fn with_peer_id(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    match addr.iter().last() {
        Some(Protocol::P2p(_)) => addr.clone(),
        _ => addr.clone().with(Protocol::P2p(peer)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Keypair, KeypairExt as _};

    #[test]
    fn split_and_join() {
        let peer = Keypair::from_seed([1; 32]).peer_id();
        let base: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let full = with_peer_id(&base, peer);
        assert_eq!(full.to_string(), format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}"));
        assert_eq!(with_peer_id(&full, peer), full);
        assert_eq!(split_peer_id(&full), (base.clone(), Some(peer)));
        assert_eq!(split_peer_id(&base), (base, None));
    }

    #[test]
    fn multiaddr_binary_vector() {
        // From the libp2p wire digest: /ip4/127.0.0.1/tcp/4001/p2p/<spec peer>.
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq".parse().unwrap();
        let hex = data_encoding::HEXLOWER.encode(&addr.to_vec());
        assert_eq!(hex, "047f000001060fa1a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e");
    }
}
