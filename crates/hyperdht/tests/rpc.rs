//! The sans-IO `Rpc` core driven by an in-memory network and a fake clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use rhizome_hyperdht::message::{Message, Request, command, error_code};
use rhizome_hyperdht::peer::{TokenSecrets, node_id};
use rhizome_hyperdht::rpc::{Config, Event, Rpc};

fn addr(p: u16) -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), p)
}

fn node(port: u16, ephemeral: bool, now: Instant) -> Rpc {
    let mut c = Config::default();
    c.ephemeral = ephemeral;
    let mut rid = [0u8; 32];
    rid[..2].copy_from_slice(&port.to_le_bytes());
    Rpc::new(c, addr(port), rid, TokenSecrets::new([port as u8; 32], [7; 32]), port, now)
}

/// Delivers every queued datagram until the network is quiet.
fn run(nodes: &mut HashMap<u16, Rpc>, now: Instant) {
    loop {
        let mut moved = false;
        let ports: Vec<u16> = nodes.keys().copied().collect();
        for p in ports {
            while let Some(t) = nodes.get_mut(&p).unwrap().poll_transmit() {
                moved = true;
                if let Some(dst) = nodes.get_mut(&t.to.port()) {
                    let _ = dst.handle_datagram(now, addr(p), &t.bytes);
                }
            }
        }
        if !moved {
            break;
        }
    }
}

#[test]
fn ping_and_find_node_across_a_small_network() {
    let now = Instant::now();
    let mut nodes = HashMap::new();
    for p in 1..=30u16 {
        nodes.insert(p, node(p, false, now));
    }
    nodes.insert(100, node(100, true, now));
    // everybody bootstraps from node 1
    for p in 2..=30u16 {
        nodes.get_mut(&p).unwrap().ping(now, addr(1)).unwrap();
        run(&mut nodes, now);
    }
    for p in 1..=30u16 {
        let target = *nodes[&p].id();
        nodes.get_mut(&p).unwrap().find_node(now, target, &[addr(1)]).unwrap();
        run(&mut nodes, now);
    }
    assert_eq!(nodes[&1].table().len(), 29, "node 1 learnt every persistent pinger");
    let target = node_id(addr(17));
    let me = nodes.get_mut(&100).unwrap();
    me.find_node(now, target, &[addr(1)]).unwrap();
    run(&mut nodes, now);
    let me = nodes.get_mut(&100).unwrap();
    let mut finished = None;
    while let Some(e) = me.poll_event() {
        if let Event::QueryFinished { closest, .. } = e {
            finished = Some(closest);
        }
    }
    let closest = finished.expect("query finished");
    assert_eq!(closest.len(), 20);
    assert_eq!(closest[0].addr, addr(17), "the target node itself is nearest");
    assert!(me.table().len() >= 20, "ephemeral node learns persistent responders");
    for p in 1..=30u16 {
        assert!(!nodes[&p].table().nodes().any(|n| n.addr == addr(100)), "nobody stores the ephemeral node");
    }
}

#[test]
fn retries_then_timeout_with_fake_clock() {
    let t0 = Instant::now();
    let mut a = node(1, true, t0);
    let id = a.ping(t0, addr(9)).unwrap();
    let first = a.poll_transmit().unwrap();
    let mut now = t0;
    let mut sends = 1;
    for _ in 0..10 {
        now = a.poll_timeout();
        a.handle_timeout(now);
        while let Some(t) = a.poll_transmit() {
            assert_eq!(t, first, "retries resend the same bytes and tid");
            sends += 1;
        }
    }
    assert_eq!(sends, 4);
    assert_eq!(a.poll_event(), Some(Event::Timeout { id, to: addr(9) }));
    assert!(now - t0 >= Duration::from_millis(4000));
    assert_eq!(a.in_flight(), 0);
}

#[test]
fn a_query_sends_its_command_and_streams_replies() {
    let now = Instant::now();
    let mut nodes = HashMap::new();
    for p in 1..=12u16 {
        nodes.insert(p, node(p, false, now));
    }
    for p in 2..=12u16 {
        nodes.get_mut(&p).unwrap().ping(now, addr(1)).unwrap();
        run(&mut nodes, now);
    }
    while nodes.values_mut().any(|n| n.poll_event().is_some()) {}
    let target = [0x42; 32];
    let qid = nodes.get_mut(&12).unwrap().query(now, target, false, 3, Some(vec![9]), &[addr(1)]).unwrap();
    // every visited node sees LOOKUP(3) with the value and answers with its port
    let mut answered = 0;
    let mut mine = Vec::new();
    for _ in 0..50 {
        run(&mut nodes, now);
        let mut moved = false;
        let ports: Vec<u16> = nodes.keys().copied().collect();
        for p in ports {
            let n = nodes.get_mut(&p).unwrap();
            while let Some(e) = n.poll_event() {
                if let Event::Request { from, request } = e {
                    assert_eq!((request.command, request.target, request.value.clone()), (3, Some(target), Some(vec![9])));
                    n.respond(from, &request, 0, Some(p.to_le_bytes().to_vec()), true, true);
                    answered += 1;
                    moved = true;
                } else if p == 12 {
                    mine.push(e);
                }
            }
        }
        if !moved {
            break;
        }
    }
    let mut replies = Vec::new();
    let mut closest = None;
    for e in mine {
        match e {
            Event::QueryReply { id, reply } if id == qid => replies.push(reply),
            Event::QueryFinished { id, closest: c } if id == qid => closest = Some(c),
            _ => {}
        }
    }
    assert!(answered >= 11, "the query reached the network ({answered})");
    assert_eq!(replies.len(), answered);
    for r in &replies {
        assert_eq!(r.value.as_deref(), Some(&r.addr.port().to_le_bytes()[..]));
        assert!(r.token.is_some());
    }
    let closest = closest.expect("finished");
    assert!(!closest.is_empty() && closest.len() <= 20);
}

#[test]
fn in_flight_is_bounded() {
    let t0 = Instant::now();
    let mut a = node(1, true, t0);
    for i in 0..1024u16 {
        a.ping(t0, addr(2000 + i)).unwrap();
    }
    assert!(a.ping(t0, addr(9)).is_err());
}

#[test]
fn answers_internal_commands_and_checks_tokens() {
    let t0 = Instant::now();
    let mut b = node(2, false, t0);
    let req = |internal, cmd, target, value, token| Request { tid: 7, to: addr(2), id: None, token, internal, command: cmd, target, value };
    let ask = |b: &mut Rpc, r: Request| {
        b.handle_datagram(t0, addr(1), &r.encode()).unwrap();
        let t = b.poll_transmit().expect("a reply");
        let Message::Response(res) = Message::decode(&t.bytes).unwrap() else { panic!() };
        (t.to, res)
    };
    let (to, r) = ask(&mut b, req(true, command::PING, None, None, None));
    assert_eq!((to, r.id, r.token, r.error), (addr(1), Some(node_id(addr(2))), None, 0));
    let (to, _) = ask(&mut b, req(true, command::PING_NAT, None, Some(vec![0x39, 0x05]), None));
    assert_eq!(to, addr(1337), "PING_NAT replies to the given port");
    let (_, r) = ask(&mut b, req(false, 5, Some([1; 32]), None, Some([9; 32])));
    assert_eq!(r.error, error_code::INVALID_TOKEN);
    let good = r.token.expect("fresh token");
    // a hyperdht command with a good token goes to the caller, who answers it
    let user = req(false, 5, Some([1; 32]), Some(vec![1, 2]), Some(good));
    b.handle_datagram(t0, addr(1), &user.encode()).unwrap();
    assert!(b.poll_transmit().is_none(), "the core does not answer hyperdht commands itself");
    let Some(Event::Request { from, request }) = b.poll_event() else { panic!("a request event") };
    assert_eq!((from, request.token, request.value.clone()), (addr(1), Some(good), Some(vec![1, 2])));
    b.respond(from, &request, 0, Some(vec![7]), true, true);
    let t = b.poll_transmit().expect("the answer");
    let Message::Response(r) = Message::decode(&t.bytes).unwrap() else { panic!() };
    assert_eq!((t.to, r.tid, r.error, r.value), (addr(1), 7, 0, Some(vec![7])));
    assert!(r.token.is_some(), "with a fresh token");
    let (_, r) = ask(&mut b, req(true, 42, None, None, None));
    assert_eq!(r.error, error_code::UNKNOWN_COMMAND);
    let (_, r) = ask(&mut b, req(true, command::DOWN_HINT, None, Some(vec![127, 0, 0, 1, 1, 0]), None));
    assert_eq!(r.error, 0);
    // FIND_NODE without a target and garbage get no reply
    b.handle_datagram(t0, addr(1), &req(true, command::FIND_NODE, None, None, None).encode()).unwrap();
    assert!(b.handle_datagram(t0, addr(1), &[0x03, 0xff]).is_err());
    assert!(b.poll_transmit().is_none());
}

#[test]
fn delayed_ping_is_answered_after_its_delay() {
    let t0 = Instant::now();
    let mut b = node(2, false, t0);
    let ask = |ms: u32| Request {
        tid: 9,
        to: addr(2),
        id: None,
        token: None,
        internal: true,
        command: command::DELAYED_PING,
        target: None,
        value: Some(ms.to_le_bytes().to_vec()),
    };
    b.handle_datagram(t0, addr(1), &ask(1500).encode()).unwrap();
    b.handle_datagram(t0, addr(1), &ask(60_000).encode()).unwrap(); // over the 10 s maximum: ignored
    assert!(b.poll_transmit().is_none(), "not before the delay");
    assert!(b.poll_timeout() <= t0 + Duration::from_millis(1500));
    b.handle_timeout(t0 + Duration::from_millis(1000));
    assert!(b.poll_transmit().is_none());
    b.handle_timeout(t0 + Duration::from_millis(1500));
    let t = b.poll_transmit().expect("the delayed reply");
    assert_eq!(t.to, addr(1));
    b.handle_timeout(t0 + Duration::from_secs(61));
    assert!(b.poll_transmit().is_none(), "the over-long one never answered");
}

/// Drives `a` alone through `secs` of fake time, answering nothing.
fn silence(a: &mut Rpc, from: Instant, secs: u64) -> Instant {
    let mut now = from;
    let end = from + Duration::from_secs(secs);
    while now < end {
        now = a.poll_timeout().min(end).max(now + Duration::from_millis(1));
        a.handle_timeout(now);
        while a.poll_transmit().is_some() {}
        while a.poll_event().is_some() {}
    }
    now
}

#[test]
fn upkeep_pings_drop_silent_nodes_and_refresh() {
    let t0 = Instant::now();
    let mut a = node(1, false, t0);
    for p in 100..110u16 {
        a.add_node(addr(p));
    }
    assert_eq!(a.table().len(), 10);
    // nobody answers: the 40 s ping rounds (and refresh queries) find them gone
    let now = silence(&mut a, t0, 200);
    assert!(a.table().len() < 10, "silent nodes are pinged and dropped ({} left)", a.table().len());
    let now = silence(&mut a, now, 600);
    assert_eq!(a.table().len(), 0, "all dropped after 800 s");
    assert!(a.in_flight() <= 10);
    let _ = now;
}

#[test]
fn a_full_row_repings_its_oldest_and_swaps_a_dead_one_out() {
    let t0 = Instant::now();
    let mut c = Config::default();
    c.ephemeral = false;
    c.k = 1;
    let mut a = Rpc::new(c, addr(1), [0; 32], TokenSecrets::new([1; 32], [7; 32]), 1, t0);
    let row = |p: u16| a.table().row_of(&node_id(addr(p)));
    // two ports whose ids land in the same row as seen from `a`
    let (old, new) =
        (2000..4000u16).flat_map(|x| (x + 1..4000u16).map(move |y| (x, y))).find(|&(x, y)| row(x) == row(y) && row(x).is_some()).unwrap();
    a.add_node(addr(old));
    // the newcomer speaks (a persistent PING with its id)
    let later = t0 + Duration::from_secs(2);
    let ping = Request {
        tid: 5,
        to: addr(1),
        id: Some(node_id(addr(new))),
        token: None,
        internal: true,
        command: command::PING,
        target: None,
        value: None,
    };
    a.handle_datagram(later, addr(new), &ping.encode()).unwrap();
    assert!(a.table().get(&node_id(addr(new))).is_none(), "the row is full");
    let repinged = std::iter::from_fn(|| a.poll_transmit()).any(|t| t.to == addr(old));
    assert!(repinged, "the row's oldest node is repinged");
    // it never answers: after its retries the newcomer takes its place
    silence(&mut a, later, 10);
    assert!(a.table().get(&node_id(addr(old))).is_none());
    assert!(a.table().get(&node_id(addr(new))).is_some(), "swapped in");
}
