//! dht-rpc (rhizome-hyperdht) targets.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use rhizome_hyperdht::message::Message;
use rhizome_hyperdht::peer::TokenSecrets;
use rhizome_hyperdht::rpc::{Config, Rpc};

/// One datagram through `Message::decode`; a message that decodes must re-encode and
/// decode to the same value.
pub(crate) fn message(data: &[u8]) {
    if let Ok(m) = Message::decode(data) {
        assert_eq!(Message::decode(&m.encode()).ok(), Some(m));
    }
}

/// Datagrams (split by the input) fed to a persistent `Rpc` core with time advancing.
pub(crate) fn node(data: &[u8]) {
    let t0 = Instant::now();
    let local = SocketAddrV4::new([127, 0, 0, 1].into(), 4000);
    let mut c = Config::default();
    c.ephemeral = false;
    let mut rpc = Rpc::new(c, local, [0; 32], TokenSecrets::new([1; 32], [2; 32]), 0, t0);
    let peer = SocketAddrV4::new([127, 0, 0, 1].into(), 5000);
    let _ = rpc.ping(t0, peer);
    let _ = rpc.find_node(t0, [7; 32], &[peer]);
    for (i, chunk) in crate::chunks(data).enumerate() {
        let now = t0 + Duration::from_millis(300 * i as u64);
        let from = SocketAddrV4::new([127, 0, 0, 1].into(), 5000 + u16::from(chunk[0] % 8));
        let _ = rpc.handle_datagram(now, from, chunk);
        rpc.handle_timeout(now);
        while rpc.poll_transmit().is_some() {}
        while rpc.poll_event().is_some() {}
    }
}
