use super::*;
use crate::message::Record;
use crate::validate::Namespaced;
use rhizome_identity::KeypairExt as _;
use rhizome_node::Keypair;

fn peer(n: u8) -> PeerId {
    Keypair::from_seed([n; 32]).peer_id()
}

fn addr(port: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
}

fn core() -> Core {
    Core::new(peer(0), 20, StoreConfig::default(), Arc::new(Namespaced::default()))
}

#[test]
fn find_node_answers_closest_without_the_requester() {
    let mut c = core();
    let now = Instant::now();
    for n in 1..=30 {
        c.table.insert(peer(n), &[addr(u16::from(n))], now);
    }
    let Some(Response::FindNode { closer }) = c.handle_request(&peer(1), Request::FindNode { key: peer(5).to_bytes() }, &[], now).unwrap()
    else {
        panic!("FIND_NODE answer")
    };
    assert_eq!(closer.len(), 20);
    assert_eq!(closer[0].id, peer(5), "the target itself is closest");
    assert!(closer.iter().all(|p| p.id != peer(1) && p.addrs.len() == 1));
}

#[test]
fn put_get_and_validation() {
    let mut c = core();
    let now = Instant::now();
    let from = peer(1);
    let put = Request::PutValue { record: Record::new(b"k".to_vec(), b"v".to_vec()) };
    let Some(Response::PutValue { record: Some(echo), .. }) = c.handle_request(&from, put, &[], now).unwrap() else {
        panic!("PUT_VALUE echo")
    };
    assert_eq!(echo.value, b"v");
    let Some(Response::GetValue { record: Some(r), .. }) =
        c.handle_request(&peer(2), Request::GetValue { key: b"k".to_vec() }, &[], now).unwrap()
    else {
        panic!("GET_VALUE answer")
    };
    assert_eq!(r.publisher, Some(from), "the sender is the publisher when none is named");
    assert!(r.ttl.is_some());
    // A /pk/ record that does not match its key is refused.
    let mut key = b"/pk/".to_vec();
    key.extend(peer(3).to_bytes());
    let bad = Request::PutValue { record: Record::new(key, b"not a key".to_vec()) };
    assert!(matches!(c.handle_request(&from, bad, &[], now), Err(InboundError::Invalid(_))));
    assert_eq!(c.inbound_stats(), InboundStats { served: 2, refused: 1 });
}

#[test]
fn providers_only_for_the_sender_itself() {
    let mut c = core();
    let now = Instant::now();
    let (from, other) = (peer(1), peer(2));
    let foreign = Request::AddProvider { key: b"mh".to_vec(), providers: vec![crate::message::Peer { id: other, addrs: vec![addr(2)] }] };
    assert_eq!(c.handle_request(&from, foreign, &[], now), Err(InboundError::ForeignProvider));
    // Without addresses, the table's are used.
    c.table.insert(from, &[addr(1)], now);
    let own = Request::AddProvider { key: b"mh".to_vec(), providers: vec![crate::message::Peer { id: from, addrs: vec![] }] };
    assert_eq!(c.handle_request(&from, own, &[], now), Ok(None));
    c.store.start_providing(b"mh", now).unwrap();
    let Some(Response::GetProviders { providers, .. }) =
        c.handle_request(&other, Request::GetProviders { key: b"mh".to_vec() }, &[addr(9)], now).unwrap()
    else {
        panic!("GET_PROVIDERS answer")
    };
    let ids: Vec<PeerId> = providers.iter().map(|p| p.id).collect();
    assert_eq!(ids, vec![peer(0), from], "we come first when we provide the key");
    assert_eq!(providers[1].addrs, vec![addr(1)]);
    assert_eq!(c.handle_request(&other, Request::Ping, &[], now), Ok(Some(Response::Ping)));
}
