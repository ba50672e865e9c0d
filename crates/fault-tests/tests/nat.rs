//! Hyperswarm holepunching across real NATs built in network namespaces (see
//! `natlab`). Needs root; skips with a message otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod natlab;

use std::time::Duration;

use natlab::{Lab, NatKind};

const MIB: usize = 1024 * 1024;
const SEED: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// Checks a `{"event":"conn"}` line: the whole exchange arrived intact.
fn check_conn(v: &serde_json::Value, peer_sent: &str) {
    assert!(v.get("error").is_none(), "connection failed: {v}");
    assert_eq!(v["receivedBytes"].as_u64(), Some(MIB as u64), "{v}");
    assert_eq!(v["received"].as_str(), Some(peer_sent), "hash mismatch: {v}");
}

#[test]
fn node_node_two_consistent_nats() {
    // proves the lab: the routers NAT, drop unsolicited inbound, and real hyperdht punches
    pair([NatKind::Consistent, NatKind::Consistent], Peer::Node, Peer::Node);
}

#[test]
fn node_node_consistent_and_random_nat() {
    pair([NatKind::Consistent, NatKind::Random], Peer::Node, Peer::Node);
}

/// Which implementation runs a peer.
#[derive(Clone, Copy, Debug)]
enum Peer {
    Rust,
    Node,
}

/// A server of kind `server` in home 0 and a client of kind `client` in home 1 connect
/// through the lab's NATs and exchange 1 MiB each way; both streams must talk to the
/// other's router (direct, not relayed).
fn pair(nats: [NatKind; 2], server_kind: Peer, client_kind: Peer) {
    pair_on(nats, server_kind, client_kind, Peer::Node, 0);
}

/// [`pair`] with the DHT (bootstrap + relays) run by `dht_kind` and `delay_ms` on each WAN.
fn pair_on(nats: [NatKind; 2], server_kind: Peer, client_kind: Peer, dht_kind: Peer, delay_ms: u32) {
    if natlab::skip() {
        return;
    }
    let mut lab = Lab::new(&nats, delay_ms);
    if delay_ms > 0 && !lab.delayed {
        eprintln!("SKIPPED: the kernel has no netem qdisc (sch_netem), so no {delay_ms} ms delay can be made");
        return;
    }
    let (mut tn, boot) = match dht_kind {
        Peer::Node => lab.node_testnet(),
        Peer::Rust => lab.rust_testnet(env!("CARGO_BIN_EXE_fault-peer"), &["hdht-testnet", natlab::PUBLIC]),
    };
    let (h0, h1) = (lab.home(0).to_string(), lab.home(1).to_string());
    let peer = env!("CARGO_BIN_EXE_fault-peer");
    let bytes = MIB.to_string();
    let server = match server_kind {
        Peer::Node => lab.node(&h0, &["server", &boot, SEED, &bytes]),
        Peer::Rust => lab.spawn(&h0, peer, &["hdht-server", &boot, SEED, &bytes, "--host", "198.19.1.2"], None),
    };
    let v = server.json(Duration::from_secs(30));
    let pk = v["listening"].as_str().unwrap_or_else(|| panic!("server line {v}")).to_string();
    let client = match client_kind {
        Peer::Node => lab.node(&h1, &["client", &boot, &pk, &bytes]),
        Peer::Rust => lab.spawn(&h1, peer, &["hdht-client", &boot, &pk, &bytes, "--host", "198.19.2.2"], None),
    };
    // a random-NAT punch is a birthday draw: ~5 s on average, up to the ~35 s of probing
    let open = client.json(Duration::from_secs(50));
    assert_eq!(open["event"], "open", "{open}");
    let c = client.json(Duration::from_secs(40));
    let s = server.json(Duration::from_secs(20));
    eprintln!("{client_kind:?} client: {open}\n{c}\n{server_kind:?} server: {s}");
    check_conn(&c, s["sent"].as_str().unwrap());
    check_conn(&s, c["sent"].as_str().unwrap());
    let host = |v: &serde_json::Value| v["remoteAddress"].as_str().map(|a| a.split(':').next().unwrap_or("").to_string());
    let client_remote = host(&open).or(host(&c));
    assert_eq!(client_remote.as_deref(), Some(Lab::wan(0).as_str()), "client stream not direct: {open} {c}");
    assert_eq!(host(&s).as_deref(), Some(Lab::wan(1).as_str()), "server stream not direct: {s}");
    eprintln!("{client_kind:?}→{server_kind:?} punched, open after {} ms", open["ms"]);
    if let Peer::Rust = dht_kind {
        // our relays carried the handshake and the holepunch rounds
        tn.send("stats");
        let st = tn.json(Duration::from_secs(5));
        eprintln!("rust relays: {st}");
        assert!(st["handshakesForwarded"].as_u64().unwrap() >= 1, "{st}");
        assert!(st["holepunchesForwarded"].as_u64().unwrap() >= 1, "{st}");
        assert!(st["holepunchesAnswered"].as_u64().unwrap() >= 1, "{st}");
    }
}

#[test]
fn node_node_through_rust_dht() {
    pair_on([NatKind::Consistent, NatKind::Consistent], Peer::Node, Peer::Node, Peer::Rust, 0);
}

#[test]
fn node_node_through_rust_dht_random_client() {
    pair_on([NatKind::Consistent, NatKind::Random], Peer::Node, Peer::Node, Peer::Rust, 0);
}

#[test]
fn rust_rust_through_rust_dht_with_delay() {
    pair_on([NatKind::Consistent, NatKind::Consistent], Peer::Rust, Peer::Rust, Peer::Rust, 20);
}

#[test]
fn rust_node_two_consistent_nats() {
    pair([NatKind::Consistent, NatKind::Consistent], Peer::Node, Peer::Rust);
}

#[test]
fn rust_node_random_server_nat() {
    pair([NatKind::Random, NatKind::Consistent], Peer::Node, Peer::Rust);
}

#[test]
fn node_rust_two_consistent_nats() {
    pair([NatKind::Consistent, NatKind::Consistent], Peer::Rust, Peer::Node);
}

#[test]
fn node_rust_random_client_nat() {
    pair([NatKind::Consistent, NatKind::Random], Peer::Rust, Peer::Node);
}

#[test]
fn rust_rust_two_consistent_nats() {
    pair([NatKind::Consistent, NatKind::Consistent], Peer::Rust, Peer::Rust);
}

#[test]
fn rust_rust_through_rust_dht() {
    pair_on([NatKind::Consistent, NatKind::Consistent], Peer::Rust, Peer::Rust, Peer::Rust, 0);
}

#[test]
fn rust_node_random_client_nat() {
    pair([NatKind::Consistent, NatKind::Random], Peer::Node, Peer::Rust);
}

#[test]
fn rust_rust_random_client_nat() {
    pair([NatKind::Consistent, NatKind::Random], Peer::Rust, Peer::Rust);
}

#[test]
fn rust_rust_random_server_nat() {
    // our server behind a randomizing NAT: a puncher per handshake, birthday sockets
    pair([NatKind::Random, NatKind::Consistent], Peer::Rust, Peer::Rust);
}

#[test]
fn node_rust_random_server_nat() {
    pair([NatKind::Random, NatKind::Consistent], Peer::Rust, Peer::Node);
}

#[test]
fn relay_killed_mid_punch_then_retry() {
    // the relay that carried msg2 is dropped before the client's first PEER_HOLEPUNCH
    // reaches it (the client's WAN is throttled to 8 kbit/s until then, so that request
    // leaves ~250 ms after msg1): the connect fails with RelayTimeout, tasks and fds return
    // to the baseline, a fresh connect goes through another relay, punches and exchanges
    // 1 MiB each way
    if natlab::skip() {
        return;
    }
    let mut lab = Lab::new(&[NatKind::Consistent, NatKind::Consistent], 0);
    let peer = env!("CARGO_BIN_EXE_fault-peer");
    let (tn, boot) = lab.rust_testnet(peer, &["hdht-testnet", natlab::PUBLIC, "--kill-relay"]);
    let (h0, h1) = (lab.home(0).to_string(), lab.home(1).to_string());
    let bytes = MIB.to_string();
    let server = lab.spawn(&h0, peer, &["hdht-server", &boot, SEED, &bytes, "--host", "198.19.1.2"], None);
    let v = server.json(Duration::from_secs(30));
    let pk = v["listening"].as_str().unwrap_or_else(|| panic!("server line {v}")).to_string();
    if !lab.throttle(1, true) {
        eprintln!("SKIPPED: no tbf qdisc (sch_tbf) to open the kill window");
        return;
    }
    let client = lab.spawn(&h1, peer, &["hdht-retry-client", &boot, &pk, &bytes, "--host", "198.19.2.2"], None);
    let killed = tn.json(Duration::from_secs(60));
    assert!(killed["killed"].is_string(), "{killed}");
    assert!(lab.throttle(1, false), "throttle not removed");
    let err = client.json(Duration::from_secs(40));
    eprintln!("relay killed: {killed}\nfirst connect: {err}");
    assert_eq!(err["event"], "error", "{err}");
    assert!(err["kind"].as_str().unwrap().starts_with("RelayTimeout"), "{err}");
    let (base, after) = (&err["baseline"], &err["afterError"]);
    assert!(after["fds"].as_u64() <= base["fds"].as_u64(), "fds leaked: {err}");
    assert!(after["tasks"].as_u64() <= base["tasks"].as_u64(), "tasks leaked: {err}");
    let open = client.json(Duration::from_secs(40));
    assert_eq!(open["event"], "open", "{open}");
    let c = client.json(Duration::from_secs(40));
    let s = server.json(Duration::from_secs(20));
    eprintln!("retry: {open}\n{c}\nserver: {s}");
    check_conn(&c, s["sent"].as_str().unwrap());
    check_conn(&s, c["sent"].as_str().unwrap());
    assert_eq!(open["remoteAddress"].as_str().and_then(|a| a.split(':').next()), Some(Lab::wan(0).as_str()), "not direct: {open}");
    let closed = client.json(Duration::from_secs(20));
    eprintln!("after close: {closed}");
    assert_eq!(closed["event"], "closed", "{closed}");
    assert!(closed["fds"].as_u64() <= base["fds"].as_u64(), "fds leaked after close: {closed} vs {err}");
    assert!(closed["tasks"].as_u64() <= base["tasks"].as_u64(), "tasks leaked after close: {closed} vs {err}");
}

#[test]
fn rust_rust_same_nat_lan_shortcut() {
    // two homes behind one consistent router (no hairpinning): the punch cannot work, the
    // client reaches the server's LAN address from its DHT socket
    lan_shortcut(NatKind::Consistent);
}

#[test]
fn rust_rust_same_random_nat_lan_shortcut() {
    // the same behind a randomizing router: the server's puncher socket is the LAN address
    lan_shortcut(NatKind::Random);
}

fn lan_shortcut(kind: NatKind) {
    if natlab::skip() {
        return;
    }
    let mut lab = Lab::new(&[kind], 0);
    let (_tn, boot) = lab.rust_testnet(env!("CARGO_BIN_EXE_fault-peer"), &["hdht-testnet", natlab::PUBLIC]);
    let h0 = lab.home(0).to_string();
    let nb = lab.add_neighbour(0);
    let peer = env!("CARGO_BIN_EXE_fault-peer");
    let bytes = MIB.to_string();
    let server = lab.spawn(&h0, peer, &["hdht-server", &boot, SEED, &bytes, "--host", "198.19.1.2"], None);
    let v = server.json(Duration::from_secs(30));
    let pk = v["listening"].as_str().unwrap_or_else(|| panic!("server line {v}")).to_string();
    let client = lab.spawn(&nb, peer, &["hdht-client", &boot, &pk, &bytes, "--host", "198.19.101.2"], None);
    let open = client.json(Duration::from_secs(40));
    assert_eq!(open["event"], "open", "{open}");
    let c = client.json(Duration::from_secs(40));
    let s = server.json(Duration::from_secs(20));
    eprintln!("LAN: {open}\n{c}\nserver: {s}");
    check_conn(&c, s["sent"].as_str().unwrap());
    check_conn(&s, c["sent"].as_str().unwrap());
    let host = |v: &serde_json::Value| v["remoteAddress"].as_str().map(|a| a.split(':').next().unwrap_or("").to_string());
    assert_eq!(host(&open).as_deref(), Some("198.19.1.2"), "client stream not on the LAN: {open}");
    assert_eq!(host(&s).as_deref(), Some("198.19.101.2"), "server stream not on the LAN: {s}");
}
