#![allow(clippy::unwrap_used)]

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use proptest::prelude::*;

use super::*;
use crate::compact::Decoder;
use crate::wire::handshake::{HandshakeMessage as Handshake, HolepunchMessage as Holepunch, Mode};
use crate::wire::records::{Announce, PeerRecord as Peer};
use crate::wire::sign::signable;

const ID: Id = [7; 32];
const TOKEN: Id = [9; 32];

fn addr(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn pk(k: &SigningKey) -> [u8; 32] {
    k.verifying_key().to_bytes()
}

fn signed_announce(k: &SigningKey, target: &Id, relays: Vec<SocketAddrV4>, unannounce: bool) -> Vec<u8> {
    let peer = Peer { public_key: pk(k), relay_addresses: relays };
    let sig = k.sign(&signable(if unannounce { &NS_UNANNOUNCE } else { &NS_ANNOUNCE }, target, &ID, &TOKEN, &peer, None)).to_bytes();
    Announce { peer: Some(peer), refresh: None, signature: Some(sig), bump: 0 }.encode()
}

fn req<'a>(from: &str, command: u64, target: Option<Id>, token: bool, value: Option<&'a [u8]>) -> StoreRequest<'a> {
    StoreRequest { from: addr(from), tid: 42, command, target, token: token.then_some(TOKEN), value }
}

struct T {
    s: Store,
    now: Instant,
}

impl T {
    fn new() -> Self {
        Self { s: Store::new(ID, Limits::default()), now: Instant::now() }
    }
    fn with(limits: Limits) -> Self {
        Self { s: Store::new(ID, limits), now: Instant::now() }
    }
    fn run(&mut self, r: StoreRequest<'_>) -> Action {
        self.s.handle(r, self.now, 1_000_000)
    }
    fn lookup(&mut self, target: Id) -> Vec<[u8; 32]> {
        match self.run(req("127.0.0.1:5000", command::LOOKUP, Some(target), false, None)) {
            Action::Reply { error: 0, value: None } => vec![],
            Action::Reply { error: 0, value: Some(v) } => {
                let mut d = Decoder::new(&v);
                let n = d.array_len().unwrap();
                (0..n)
                    .map(|_| {
                        let k = d.fixed32().unwrap();
                        d.ipv4_array().unwrap();
                        k
                    })
                    .collect()
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn announce_lookup_unannounce() {
    let mut t = T::new();
    let topic = [1; 32];
    let a = key(0xaa);
    let v = signed_announce(&a, &topic, vec![addr("127.0.0.1:1"), addr("127.0.0.1:2"), addr("127.0.0.1:3"), addr("127.0.0.1:4")], false);
    assert_eq!(t.run(req("127.0.0.1:6000", command::ANNOUNCE, Some(topic), true, Some(&v))), Action::ReplyBare);
    assert_eq!(t.lookup(topic), vec![pk(&a)]);
    // relays trimmed to 3
    let Action::Reply { value: Some(v), .. } = t.run(req("127.0.0.1:5000", command::LOOKUP, Some(topic), false, None)) else { panic!() };
    assert_eq!(v.len(), 1 + 32 + 1 + 18 + 1);
    // no token, wrong signer, wrong target, garbage: ignored
    assert_eq!(t.run(req("127.0.0.1:6000", command::ANNOUNCE, Some(topic), false, Some(&v))), Action::Ignore);
    let other = signed_announce(&key(0xbb), &[2; 32], vec![], false);
    assert_eq!(t.run(req("127.0.0.1:6000", command::ANNOUNCE, Some(topic), true, Some(&other))), Action::Ignore);
    assert_eq!(t.run(req("127.0.0.1:6000", command::ANNOUNCE, Some(topic), true, Some(&[1, 2, 3]))), Action::Ignore);
    // an announce signature does not unannounce
    let bad = signed_announce(&a, &topic, vec![], false);
    assert_eq!(t.run(req("127.0.0.1:6000", command::UNANNOUNCE, Some(topic), true, Some(&bad))), Action::Ignore);
    assert_eq!(t.lookup(topic).len(), 1);
    let un = signed_announce(&a, &topic, vec![], true);
    assert_eq!(t.run(req("127.0.0.1:6000", command::UNANNOUNCE, Some(topic), true, Some(&un))), Action::ReplyBare);
    assert!(t.lookup(topic).is_empty());
    assert_eq!(t.s.stats().records, 0);
    assert_eq!(t.s.stats().topics, 0);
}

#[test]
fn records_expire_and_topics_hold_twenty() {
    let mut t = T::new();
    let topic = [1; 32];
    for i in 0..25u8 {
        let v = signed_announce(&key(i + 1), &topic, vec![], false);
        assert_eq!(t.run(req("127.0.0.1:6000", command::ANNOUNCE, Some(topic), true, Some(&v))), Action::ReplyBare);
    }
    let got = t.lookup(topic);
    assert_eq!(got.len(), 20);
    assert!(!got.contains(&pk(&key(1))), "the oldest went first");
    assert!(got.contains(&pk(&key(25))));
    t.now += Duration::from_secs(20 * 60 + 1);
    assert!(t.lookup(topic).is_empty());
    assert_eq!(t.s.stats(), StoreStats::default());
}

fn handshake(mode: Mode, noise: &[u8], peer: Option<&str>) -> Vec<u8> {
    Handshake { mode, noise: noise.to_vec(), peer_address: peer.map(addr), relay_address: None }.encode()
}

#[test]
fn announce_self_router_and_relay() {
    let mut t = T::new();
    let server = key(0xaa);
    let target = hash(&pk(&server));
    let server_addr = "127.0.0.1:7000";
    let v = signed_announce(&server, &target, vec![], false);
    // no entry yet: FIND_PEER empty, FROM_CLIENT answered (closer nodes) but not forwarded
    assert_eq!(t.run(req("127.0.0.1:5000", command::FIND_PEER, Some(target), false, None)), Action::Reply { error: 0, value: None });
    let hs = handshake(Mode::FromClient, b"msg1", None);
    assert_eq!(
        t.run(req("127.0.0.1:5000", command::PEER_HANDSHAKE, Some(target), false, Some(&hs))),
        Action::Reply { error: 0, value: None }
    );

    assert_eq!(t.run(req(server_addr, command::ANNOUNCE, Some(target), true, Some(&v))), Action::ReplyBare);
    let record = Peer { public_key: pk(&server), relay_addresses: vec![] }.encode();
    assert_eq!(
        t.run(req("127.0.0.1:5000", command::FIND_PEER, Some(target), false, None)),
        Action::Reply { error: 0, value: Some(record) }
    );
    assert_eq!(t.lookup(target), vec![pk(&server)], "LOOKUP carries the router record");

    // client → relay → server with the same tid, peerAddress = the client
    let client = "127.0.0.1:5000";
    let want = handshake(Mode::FromRelay, b"msg1", Some(client));
    assert_eq!(
        t.run(req(client, command::PEER_HANDSHAKE, Some(target), false, Some(&hs))),
        Action::Forward { to: addr(server_addr), tid: 42, command: command::PEER_HANDSHAKE, target, value: want }
    );
    // server answers from its puncher socket (same host): REPLY to the client
    let from_server = handshake(Mode::FromServer, b"msg2", Some(client));
    let reply = handshake(Mode::Reply, b"msg2", Some("127.0.0.1:7001"));
    assert_eq!(
        t.run(req("127.0.0.1:7001", command::PEER_HANDSHAKE, Some(target), false, Some(&from_server))),
        Action::Respond { to: addr(client), tid: 42, value: reply }
    );
    // forged: another host, another client, another tid → nothing
    assert_eq!(t.run(req("127.0.0.9:7001", command::PEER_HANDSHAKE, Some(target), false, Some(&from_server))), Action::Ignore);
    let to_victim = handshake(Mode::FromServer, b"msg2", Some("127.1.2.3:53"));
    assert_eq!(t.run(req(server_addr, command::PEER_HANDSHAKE, Some(target), false, Some(&to_victim))), Action::Ignore);
    let mut other_tid = req(server_addr, command::PEER_HANDSHAKE, Some(target), false, Some(&from_server));
    other_tid.tid = 43;
    assert_eq!(t.run(other_tid), Action::Ignore);
    // a client-chosen relayAddress does not redirect the forward
    let redirect =
        Handshake { mode: Mode::FromClient, noise: b"m".to_vec(), peer_address: None, relay_address: Some(addr("127.1.2.3:53")) }.encode();
    let Action::Forward { to, .. } = t.run(req(client, command::PEER_HANDSHAKE, Some(target), false, Some(&redirect))) else { panic!() };
    assert_eq!(to, addr(server_addr));

    // holepunch: to the puncher address the server answered from, else to the entry
    let hp = |peer: &str| Holepunch { mode: Mode::FromClient, id: 0, payload: vec![5; 10], peer_address: Some(addr(peer)) }.encode();
    let Action::Forward { to, value, .. } = t.run(req(client, command::PEER_HOLEPUNCH, Some(target), false, Some(&hp("127.0.0.1:7001"))))
    else {
        panic!()
    };
    assert_eq!(to, addr("127.0.0.1:7001"));
    assert_eq!(Holepunch::decode(&value).unwrap().peer_address, Some(addr(client)));
    let Action::Forward { to, .. } = t.run(req(client, command::PEER_HOLEPUNCH, Some(target), false, Some(&hp("127.1.2.3:53")))) else {
        panic!()
    };
    assert_eq!(to, addr(server_addr));
    let hp_server = Holepunch { mode: Mode::FromServer, id: 0, payload: vec![6; 10], peer_address: Some(addr(client)) }.encode();
    let Action::Respond { to, value, .. } = t.run(req("127.0.0.1:7001", command::PEER_HOLEPUNCH, Some(target), false, Some(&hp_server)))
    else {
        panic!()
    };
    assert_eq!(to, addr(client));
    assert_eq!(Holepunch::decode(&value).unwrap().mode, Mode::Reply);
    // a holepunch answer from yet another server socket makes that socket a valid destination
    let Action::Respond { .. } = t.run(req("127.0.0.1:7002", command::PEER_HOLEPUNCH, Some(target), false, Some(&hp_server))) else {
        panic!()
    };
    let Action::Forward { to, .. } = t.run(req(client, command::PEER_HOLEPUNCH, Some(target), false, Some(&hp("127.0.0.1:7002")))) else {
        panic!()
    };
    assert_eq!(to, addr("127.0.0.1:7002"));
    // but not a socket of another host
    let Action::Forward { to, .. } = t.run(req(client, command::PEER_HOLEPUNCH, Some(target), false, Some(&hp("127.0.0.7:7002")))) else {
        panic!()
    };
    assert_eq!(to, addr(server_addr));

    // unannounce of the self record removes the router entry
    let un = signed_announce(&server, &target, vec![], true);
    assert_eq!(t.run(req(server_addr, command::UNANNOUNCE, Some(target), true, Some(&un))), Action::ReplyBare);
    assert_eq!(t.run(req("127.0.0.1:5000", command::FIND_PEER, Some(target), false, None)), Action::Reply { error: 0, value: None });
}

fn mput(k: &SigningKey, seq: u64, value: &[u8]) -> Vec<u8> {
    MutablePut::sign(pk(k), seq, value.to_vec(), |m| k.sign(m).to_bytes()).encode()
}

#[test]
fn mutable_and_immutable() {
    let mut t = T::new();
    let k = key(0xaa);
    let target = hash(&pk(&k));
    let get = |min: u64| mutable::encode_get_request(min);
    let g0 = get(0);
    assert_eq!(t.run(req("127.0.0.1:1", command::MUTABLE_GET, Some(target), false, Some(&g0))), Action::Reply { error: 0, value: None });
    let p1 = mput(&k, 1, b"one");
    assert_eq!(t.run(req("127.0.0.1:1", command::MUTABLE_PUT, Some(target), true, Some(&p1))), Action::Reply { error: 0, value: None });
    let Action::Reply { value: Some(v), .. } = t.run(req("127.0.0.1:1", command::MUTABLE_GET, Some(target), false, Some(&g0))) else {
        panic!()
    };
    let rec = MutableRecord::decode(&v).unwrap();
    assert_eq!((rec.seq, &rec.value[..]), (1, &b"one"[..]));
    assert!(rec.verify(&pk(&k)));
    let g2 = get(2);
    assert_eq!(t.run(req("127.0.0.1:1", command::MUTABLE_GET, Some(target), false, Some(&g2))), Action::Reply { error: 0, value: None });
    let reuse = mput(&k, 1, b"uno");
    assert_eq!(
        t.run(req("127.0.0.1:1", command::MUTABLE_PUT, Some(target), true, Some(&reuse))),
        Action::Reply { error: SEQ_REUSED, value: None }
    );
    let p0 = mput(&k, 0, b"zero");
    assert_eq!(
        t.run(req("127.0.0.1:1", command::MUTABLE_PUT, Some(target), true, Some(&p0))),
        Action::Reply { error: SEQ_TOO_LOW, value: None }
    );
    // bad signature, wrong target, no token: ignored and nothing changes
    let mut forged = MutablePut::decode(&mput(&k, 9, b"nine")).unwrap();
    forged.record.value = b"evil".to_vec();
    assert_eq!(t.run(req("127.0.0.1:1", command::MUTABLE_PUT, Some(target), true, Some(&forged.encode()))), Action::Ignore);
    let p2 = mput(&k, 2, b"two");
    assert_eq!(t.run(req("127.0.0.1:1", command::MUTABLE_PUT, Some([0; 32]), true, Some(&p2))), Action::Ignore);
    assert_eq!(t.run(req("127.0.0.1:1", command::MUTABLE_PUT, Some(target), false, Some(&p2))), Action::Ignore);
    let Action::Reply { value: Some(v), .. } = t.run(req("127.0.0.1:1", command::MUTABLE_GET, Some(target), false, Some(&g0))) else {
        panic!()
    };
    assert_eq!(MutableRecord::decode(&v).unwrap().seq, 1);

    let value = b"immutable".to_vec();
    let h = hash(&value);
    assert_eq!(t.run(req("127.0.0.1:1", command::IMMUTABLE_PUT, Some([0; 32]), true, Some(&value))), Action::Ignore);
    assert_eq!(t.run(req("127.0.0.1:1", command::IMMUTABLE_GET, Some(h), false, None)), Action::Reply { error: 0, value: None });
    assert_eq!(t.run(req("127.0.0.1:1", command::IMMUTABLE_PUT, Some(h), true, Some(&value))), Action::Reply { error: 0, value: None });
    assert_eq!(t.run(req("127.0.0.1:1", command::IMMUTABLE_GET, Some(h), false, None)), Action::Reply { error: 0, value: Some(value) });
    t.now += Duration::from_secs(48 * 3600 + 1);
    assert_eq!(t.run(req("127.0.0.1:1", command::IMMUTABLE_GET, Some(h), false, None)), Action::Reply { error: 0, value: None });
    assert_eq!(t.s.stats().mutables, 0);
}

/// Thousands of validly signed announces from one host (distinct keys and topics) leave the
/// store bounded by the per-source quota and rate limit; another host still gets in.
#[test]
fn announce_flood_from_one_host_is_bounded() {
    let limits = Limits { max_per_source: 300, writes_burst: 500, writes_per_sec: 50, ..Limits::default() };
    let mut t = T::with(limits);
    let mut accepted = 0;
    for i in 0..5000u32 {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&i.to_le_bytes());
        let k = SigningKey::from_bytes(&seed);
        let topic = hash(&i.to_le_bytes());
        let v = signed_announce(&k, &topic, vec![addr("127.0.0.1:1")], false);
        let mut r = req("127.10.9.9:4000", command::ANNOUNCE, Some(topic), true, Some(&v));
        r.from.set_port(4000 + (i % 1000) as u16);
        if t.run(r) == Action::ReplyBare {
            accepted += 1;
        }
        if i % 100 == 0 {
            t.now += Duration::from_millis(100);
        }
    }
    let st = t.s.stats();
    assert_eq!(accepted, 300, "the per-source quota is what stops the flood");
    assert!(st.records <= 300 && st.topics <= 300, "{st:?}");
    assert!(st.record_bytes <= 300 * (announces::RECORD_OVERHEAD + 64), "{st:?}");
    assert_eq!(t.s.announces.source_count([127, 10, 9, 9].into()), st.records);
    let topic = [3; 32];
    let v = signed_announce(&key(0xcc), &topic, vec![], false);
    assert_eq!(t.run(req("127.10.0.1:1", command::ANNOUNCE, Some(topic), true, Some(&v))), Action::ReplyBare);
    // the flooder's records age out and the quota comes back
    t.now += Duration::from_secs(21 * 60);
    t.s.expire(t.now);
    assert_eq!(t.s.announces.source_count([127, 10, 9, 9].into()), 0);
    assert_eq!(t.s.stats().records, 0);
}

#[test]
fn rate_limit_drops_bursts() {
    let limits = Limits { writes_burst: 10, writes_per_sec: 1, ..Limits::default() };
    let mut t = T::with(limits);
    let value = b"x".to_vec();
    let h = hash(&value);
    let ok = (0..50).filter(|_| t.run(req("127.10.0.1:1", command::IMMUTABLE_PUT, Some(h), true, Some(&value))) != Action::Ignore).count();
    assert_eq!(ok, 10);
    t.now += Duration::from_secs(3);
    let ok = (0..50).filter(|_| t.run(req("127.10.0.1:1", command::IMMUTABLE_PUT, Some(h), true, Some(&value))) != Action::Ignore).count();
    assert_eq!(ok, 3);
}

proptest! {
    #[test]
    fn arbitrary_requests_never_panic(
        ops in proptest::collection::vec((0u64..12, any::<bool>(), any::<bool>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)), any::<u16>(), 0u8..4), 0..60)
    ) {
        let mut t = T::with(Limits { max_records: 16, max_per_source: 8, max_mutables: 4, max_immutables: 4, max_value_bytes: 512, ..Limits::default() });
        for (cmd, has_target, has_token, value, tid, host) in ops {
            let target = has_target.then_some([host; 32]);
            let r = StoreRequest { from: SocketAddrV4::new([127, 0, 0, host].into(), tid), tid, command: cmd, target, token: has_token.then_some(TOKEN), value: value.as_deref() };
            let _ = t.run(r);
            t.now += Duration::from_secs(u64::from(tid % 200));
            let st = t.s.stats();
            prop_assert!(st.records <= 16 && st.mutables <= 4 && st.immutables <= 4 && st.value_bytes <= 1024);
        }
    }

    #[test]
    fn valid_prefix_then_garbage_never_panics(cut in 0usize..200, junk in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut t = T::new();
        let k = key(0xaa);
        let target = hash(&pk(&k));
        for (cmd, v) in [
            (command::ANNOUNCE, signed_announce(&k, &target, vec![addr("127.0.0.1:1")], false)),
            (command::MUTABLE_PUT, mput(&k, 1, b"v")),
            (command::PEER_HANDSHAKE, handshake(Mode::FromClient, b"n", Some("127.0.0.1:9"))),
        ] {
            let mut v = v[..cut.min(v.len())].to_vec();
            v.extend_from_slice(&junk);
            let _ = t.run(req("127.0.0.1:1", cmd, Some(target), true, Some(&v)));
        }
    }
}

#[test]
fn one_host_cannot_push_out_everybody_elses_values() {
    let limits = Limits { max_immutables: 100, max_values_per_source: 30, writes_burst: 10_000, ..Limits::default() };
    let mut t = T::with(limits);
    let mine = b"a value of another host".to_vec();
    let h = hash(&mine);
    assert_eq!(t.run(req("127.10.0.2:1", command::IMMUTABLE_PUT, Some(h), true, Some(&mine))), Action::Reply { error: 0, value: None });
    let mut stored = 0;
    for i in 0..1000u32 {
        let v = i.to_le_bytes().to_vec();
        if t.run(req("127.10.0.1:1", command::IMMUTABLE_PUT, Some(hash(&v)), true, Some(&v))) != Action::Ignore {
            stored += 1;
        }
    }
    assert_eq!(stored, 30, "the flooding host's quota");
    assert_eq!(t.s.stats().immutables, 31);
    assert_eq!(t.run(req("127.10.0.3:1", command::IMMUTABLE_GET, Some(h), false, None)), Action::Reply { error: 0, value: Some(mine) });
}
