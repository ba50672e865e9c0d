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

/// Node ↔ Node through the lab: proves the lab itself (the routers NAT, drop unsolicited
/// inbound packets, and a real hyperdht punches through them).
fn node_pair(nats: [NatKind; 2]) {
    if natlab::skip() {
        return;
    }
    let mut lab = Lab::new(&nats, 0);
    let (_tn, boot) = lab.node_testnet();
    let (h0, h1) = (lab.home(0).to_string(), lab.home(1).to_string());
    let server = lab.node(&h0, &["server", &boot, SEED, &MIB.to_string()]);
    let v = server.json(Duration::from_secs(30));
    let pk = v["listening"].as_str().unwrap_or_else(|| panic!("server line {v}")).to_string();
    assert_eq!(v["firewalled"], true, "a peer behind the NAT must see itself firewalled: {v}");
    let client = lab.node(&h1, &["client", &boot, &pk, &MIB.to_string()]);
    let open = client.json(Duration::from_secs(40));
    assert_eq!(open["event"], "open", "{open}");
    let c = client.json(Duration::from_secs(40));
    let s = server.json(Duration::from_secs(20));
    eprintln!("client: {c}\nserver: {s}");
    check_conn(&c, s["sent"].as_str().unwrap());
    check_conn(&s, c["sent"].as_str().unwrap());
    // direct: each side's UDX stream talks to the other's router, not to a DHT node
    assert_eq!(c["remoteAddress"].as_str().unwrap().split(':').next(), Some(Lab::wan(0).as_str()), "{c}");
    assert_eq!(s["remoteAddress"].as_str().unwrap().split(':').next(), Some(Lab::wan(1).as_str()), "{s}");
    eprintln!("node↔node punched, open after {} ms", open["ms"]);
}

#[test]
fn node_node_two_consistent_nats() {
    node_pair([NatKind::Consistent, NatKind::Consistent]);
}

#[test]
fn node_node_consistent_and_random_nat() {
    node_pair([NatKind::Consistent, NatKind::Random]);
}

/// A Rust `fault-peer hdht-client` in home 1 connects to a Node server in home 0.
fn rust_to_node(nats: [NatKind; 2]) {
    if natlab::skip() {
        return;
    }
    let mut lab = Lab::new(&nats, 0);
    let (_tn, boot) = lab.node_testnet();
    let (h0, h1) = (lab.home(0).to_string(), lab.home(1).to_string());
    let server = lab.node(&h0, &["server", &boot, SEED, &MIB.to_string()]);
    let v = server.json(Duration::from_secs(30));
    let pk = v["listening"].as_str().unwrap_or_else(|| panic!("server line {v}")).to_string();
    let peer = env!("CARGO_BIN_EXE_fault-peer");
    let client = lab.spawn(&h1, peer, &["hdht-client", &boot, &pk, &MIB.to_string(), "--host", "198.19.2.2"], None);
    let open = client.json(Duration::from_secs(40));
    assert_eq!(open["event"], "open", "{open}");
    let c = client.json(Duration::from_secs(40));
    let s = server.json(Duration::from_secs(20));
    eprintln!("rust client: {open}\n{c}\nnode server: {s}");
    check_conn(&c, s["sent"].as_str().unwrap());
    check_conn(&s, c["sent"].as_str().unwrap());
    // direct: our stream talks to the server's router, the server's to ours
    assert_eq!(open["remoteAddress"].as_str().unwrap().split(':').next(), Some(Lab::wan(0).as_str()), "{open}");
    assert_eq!(s["remoteAddress"].as_str().unwrap().split(':').next(), Some(Lab::wan(1).as_str()), "{s}");
    eprintln!("rust→node punched, open after {} ms", open["ms"]);
}

#[test]
fn rust_node_two_consistent_nats() {
    rust_to_node([NatKind::Consistent, NatKind::Consistent]);
}

#[test]
fn rust_node_random_server_nat() {
    rust_to_node([NatKind::Random, NatKind::Consistent]);
}
