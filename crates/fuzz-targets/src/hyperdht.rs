//! HyperDHT (rhizome-hyperdht, above dht-rpc) targets.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use rhizome_hyperdht::persistent::{Limits, Store, StoreRequest};
use rhizome_hyperdht::wire::mutable::{MutablePut, MutableRecord};
use rhizome_hyperdht::wire::{Announce, HandshakeMessage, HolepunchMessage, LookupReply, NoisePayload, PeerRecord};

/// Every hyperdht value decoder on the input (the first byte picks one); a value that
/// decodes must re-encode to bytes that decode again, to a value with the same encoding
/// (encoders normalise: a payload of another version is written as version 1, as Node does).
pub(crate) fn values(data: &[u8]) {
    let Some((&pick, data)) = data.split_first() else { return };
    macro_rules! round_trip {
        ($t:ty) => {
            if let Ok(v) = <$t>::decode(data) {
                let bytes = v.encode();
                match <$t>::decode(&bytes) {
                    Ok(again) => assert_eq!(again.encode(), bytes),
                    Err(e) => panic!("our own encoding does not decode: {e}"),
                }
            }
        };
    }
    match pick % 8 {
        0 => round_trip!(PeerRecord),
        1 => round_trip!(Announce),
        2 => round_trip!(LookupReply),
        3 => round_trip!(HandshakeMessage),
        4 => round_trip!(HolepunchMessage),
        5 => round_trip!(NoisePayload),
        6 => round_trip!(MutablePut),
        _ => round_trip!(MutableRecord),
    }
}

/// Requests built from the input (command, target, token, value, source) through one
/// storing node's `Store::handle`, with time advancing; the store must stay within its
/// limits.
pub(crate) fn store(data: &[u8]) {
    let t0 = Instant::now();
    let limits = Limits { max_records: 64, max_topics: 8, max_router_entries: 8, max_mutables: 8, max_immutables: 8, ..Limits::default() };
    let mut store = Store::new([3; 32], limits);
    for (i, chunk) in crate::chunks(data).enumerate() {
        let Some((&head, rest)) = chunk.split_first() else { continue };
        let target = (head & 0x10 != 0).then(|| {
            let mut t = [0u8; 32];
            t[0] = head >> 5;
            t
        });
        let token = (head & 0x20 != 0).then_some([9u8; 32]);
        let from = SocketAddrV4::new([127, 0, 0, 1 + (head >> 6)].into(), 5000);
        let req = StoreRequest { from, tid: i as u16, command: u64::from(head & 0x0f), target, token, value: Some(rest) };
        let now = t0 + Duration::from_secs(60 * i as u64);
        let _ = store.handle(req, now, 1_700_000_000_000 + 60_000 * i as u64);
        let s = store.stats();
        assert!(s.records <= limits.max_records && s.router_entries <= limits.max_router_entries);
    }
}
