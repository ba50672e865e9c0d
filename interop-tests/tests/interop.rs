//! Rhizome against rust-libp2p 0.57, js-libp2p 3.x and py-libp2p 0.8, in both
//! directions, over TCP + /noise + /yamux/1.0.0 on 127.0.0.1.
//!
//! Each test starts one side as a listener process and the other as a dialer
//! process (both speak `interop-tests/PEERS.md`). The dialer connects with the
//! listener's /p2p id, identifies it, pings it ten times over one
//! `/ipfs/ping/1.0.0` stream (32 random bytes each, echo checked), and runs the
//! custom `/rhizome-test/echo/1.0.0` protocol with 100,000 bytes. The listener
//! reports the connection and what identify told it about the dialer. Both sides'
//! reports are checked: peer ids, agent versions, protocols, observed addresses.
//!
//! `/perf/1.0.0` (libp2p/specs perf/perf.md) runs both ways against each stack with
//! 10 MiB up and 20 MiB down: the dialer reports the bytes it moved, the listener
//! (`perf_served`) the bytes it received and sent; both are checked.
//!
//! The rust-libp2p peer also runs with secp256k1, ECDSA (P-256) and RSA identity
//! keys (`--key-type`), against Rhizome's Ed25519 key, both directions: Rhizome must
//! verify those keys' Noise signatures, derive the same peer ids (computed here by
//! rhizome-identity) and accept their identify responses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::{Impl, Key, dial, dial_perf, dial_with_key, events, listen, listen_with_key, one, peer_id_of_seed, strings};
use serde_json::Value;
use std::time::Duration;

const PINGS: u32 = 10;
const ECHO: &str = "/rhizome-test/echo/1.0.0";

/// Checks a successful dialer run of `dialer` against `listener`.
fn check_dialer(dialer: Impl, listener: Impl, listener_id: &str, code: i32, out: &[Value]) {
    assert_eq!(code, 0, "{} dialer failed against {}: {out:#?}", dialer.name(), listener.name());
    assert!(out.iter().all(|v| v["impl"] == dialer.name()), "every line has impl={}", dialer.name());
    let connected = one(out, "connected");
    assert_eq!(connected["peer_id"], listener_id);
    let id = one(out, "identify");
    assert_eq!(id["peer_id"], listener_id);
    let agent = id["agent_version"].as_str().unwrap_or_default();
    assert!(agent.starts_with(listener.agent_prefix()), "agent {agent:?} of {}", listener.name());
    let protocols = strings(&id["protocols"]);
    for p in ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", ECHO] {
        assert!(protocols.iter().any(|x| x == p), "{} should list {p}: {protocols:?}", listener.name());
    }
    // The observed address is how the listener sees the dialer: a loopback TCP address.
    let observed = id["observed_addr"].as_str().unwrap_or_default();
    assert!(observed.starts_with("/ip4/127.0.0.1/tcp/"), "observed_addr {observed:?}");
    let pings = events(out, "ping");
    assert_eq!(pings.len(), PINGS as usize);
    assert!(pings.iter().all(|p| p["rtt_ms"].as_f64().is_some_and(|r| r > 0.0 && r < 10_000.0)));
    let echo = one(out, "echo");
    assert_eq!(echo["ok"], true);
    assert_eq!(echo["bytes"], 100_000);
    assert_eq!(one(out, "done")["ok"], true);
}

async fn run(listener: Impl, dialer: Impl, listen_seed: u8, dial_seed: u8) {
    run_with_key(listener, dialer, listen_seed, dial_seed, Key::Ed25519).await
}

/// [`run`] with `key` as the identity key type of the rust-libp2p side (the other
/// side's is Ed25519), bounded by two minutes in all.
async fn run_with_key(listener: Impl, dialer: Impl, listen_seed: u8, dial_seed: u8, key: Key) {
    let checks = checks(listener, dialer, listen_seed, dial_seed, key);
    tokio::time::timeout(Duration::from_secs(120), checks).await.expect("interop run timed out");
}

async fn checks(listener: Impl, dialer: Impl, listen_seed: u8, dial_seed: u8, key: Key) {
    let key_of = |imp| if imp == Impl::RustLibp2p { key } else { Key::Ed25519 };
    let mut l = listen_with_key(listener, listen_seed, key_of(listener)).await;
    assert_eq!(l.peer_id, key_of(listener).peer_id(listen_seed));
    let dialer_id = key_of(dialer).peer_id(dial_seed);
    // The peer ids look like their key types: inlined keys (Ed25519 `12D3KooW…`,
    // secp256k1 `16Uiu2…`) and sha2-256 hashed ones (ECDSA, RSA: `Qm…`).
    let prefix = |k| match k {
        Key::Ed25519 => "12D3KooW",
        Key::Secp256k1 => "16Uiu2",
        Key::Ecdsa | Key::Rsa => "Qm",
    };
    assert!(l.peer_id.starts_with(prefix(key_of(listener))), "{}", l.peer_id);
    assert!(dialer_id.starts_with(prefix(key_of(dialer))), "{dialer_id}");
    let (code, out) = dial_with_key(dialer, &l.addr, dial_seed, PINGS, key_of(dialer)).await;
    check_dialer(dialer, listener, &l.peer_id, code, &out);

    // The listener saw the dialer connect, and identified it.
    let conn = l.proc.wait_for("connection", Duration::from_secs(10), |v| v["peer_id"] == dialer_id.as_str()).await;
    let remote = conn["remote_addr"].as_str().unwrap_or_default().to_owned();
    assert!(remote.starts_with("/ip4/127.0.0.1/tcp/"), "{remote}");
    let id = l.proc.wait_for("identify", Duration::from_secs(15), |v| v["peer_id"] == dialer_id.as_str()).await;
    let agent = id["agent_version"].as_str().unwrap_or_default();
    assert!(agent.starts_with(dialer.agent_prefix()), "{} saw agent {agent:?}", listener.name());
    let protocols = strings(&id["protocols"]);
    assert!(protocols.iter().any(|p| p == "/ipfs/ping/1.0.0"), "{protocols:?}");
    // What the dialer says it sees as the listener's address is the listener's own
    // listening address (ignoring a /p2p suffix some stacks add).
    let observed = id["observed_addr"].as_str().unwrap_or_default();
    let listen_base = l.addr.split("/p2p/").next().unwrap_or_default();
    assert_eq!(observed.split("/p2p/").next(), Some(listen_base), "observed address of the listener");
}

#[tokio::test]
async fn rust_libp2p_listens_rhizome_dials() {
    run(Impl::RustLibp2p, Impl::Rhizome, 11, 12).await
}

#[tokio::test]
async fn rhizome_listens_rust_libp2p_dials() {
    run(Impl::Rhizome, Impl::RustLibp2p, 13, 14).await
}

#[tokio::test]
async fn js_libp2p_listens_rhizome_dials() {
    run(Impl::Js, Impl::Rhizome, 21, 22).await
}

#[tokio::test]
async fn rhizome_listens_js_libp2p_dials() {
    run(Impl::Rhizome, Impl::Js, 23, 24).await
}

#[tokio::test]
async fn py_libp2p_listens_rhizome_dials() {
    run(Impl::Py, Impl::Rhizome, 31, 32).await
}

#[tokio::test]
async fn rhizome_listens_py_libp2p_dials() {
    run(Impl::Rhizome, Impl::Py, 33, 34).await
}

#[tokio::test]
async fn rust_libp2p_secp256k1_listens_rhizome_dials() {
    run_with_key(Impl::RustLibp2p, Impl::Rhizome, 51, 52, Key::Secp256k1).await
}

#[tokio::test]
async fn rhizome_listens_rust_libp2p_secp256k1_dials() {
    run_with_key(Impl::Rhizome, Impl::RustLibp2p, 53, 54, Key::Secp256k1).await
}

#[tokio::test]
async fn rust_libp2p_ecdsa_listens_rhizome_dials() {
    run_with_key(Impl::RustLibp2p, Impl::Rhizome, 55, 56, Key::Ecdsa).await
}

#[tokio::test]
async fn rhizome_listens_rust_libp2p_ecdsa_dials() {
    run_with_key(Impl::Rhizome, Impl::RustLibp2p, 57, 58, Key::Ecdsa).await
}

#[tokio::test]
async fn rust_libp2p_rsa_listens_rhizome_dials() {
    run_with_key(Impl::RustLibp2p, Impl::Rhizome, 59, 60, Key::Rsa).await
}

#[tokio::test]
async fn rhizome_listens_rust_libp2p_rsa_dials() {
    run_with_key(Impl::Rhizome, Impl::RustLibp2p, 61, 62, Key::Rsa).await
}

/// Dialing a real peer with the wrong /p2p id fails with our typed WrongPeer error.
async fn wrong_peer(listener: Impl, seed: u8) {
    let l = listen(listener, seed).await;
    let wrong = peer_id_of_seed(seed.wrapping_add(100));
    let addr = l.addr.replace(&l.peer_id, &wrong);
    let (code, out) = dial(Impl::Rhizome, &addr, seed.wrapping_add(1), 1).await;
    assert_eq!(code, 1);
    assert!(events(&out, "connected").is_empty());
    let done = one(&out, "done");
    assert_eq!(done["ok"], false);
    let error = done["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("remote peer is {}, expected {wrong}", l.peer_id)), "{error}");
}

#[tokio::test]
async fn wrong_peer_id_against_rust_libp2p() {
    wrong_peer(Impl::RustLibp2p, 41).await
}

#[tokio::test]
async fn wrong_peer_id_against_js_libp2p() {
    wrong_peer(Impl::Js, 43).await
}

#[tokio::test]
async fn wrong_peer_id_against_py_libp2p() {
    wrong_peer(Impl::Py, 45).await
}

/// Upload and download sizes of the perf runs: each way, hundreds of Noise frames
/// (≤ 65,535 bytes) and yamux data frames, and many times a yamux stream window
/// (256 KiB at first; Rhizome's grow to at most 1 MiB), so window updates and
/// back-pressure are exercised in both directions.
const PERF_UP: u64 = 10 << 20;
const PERF_DOWN: u64 = 20 << 20;

/// `dialer` runs `/perf/1.0.0` against `listener`: both sides report the bytes moved.
async fn perf(listener: Impl, dialer: Impl, listen_seed: u8, dial_seed: u8) {
    let run = async {
        let mut l = listen(listener, listen_seed).await;
        let (code, out) = dial_perf(dialer, &l.addr, dial_seed, PERF_UP, PERF_DOWN).await;
        assert_eq!(code, 0, "{} perf dialer failed against {}: {out:#?}", dialer.name(), listener.name());
        let p = one(&out, "perf");
        assert_eq!(
            (&p["impl"], &p["ok"], &p["peer_id"]),
            (&Value::from(dialer.name()), &Value::from(true), &Value::from(l.peer_id.as_str()))
        );
        assert_eq!((p["upload_bytes"].as_u64(), p["download_bytes"].as_u64()), (Some(PERF_UP), Some(PERF_DOWN)), "{p}");
        let secs = p["total_seconds"].as_f64().unwrap_or_default();
        assert!(secs > 0.0 && secs < 60.0, "total_seconds {secs}");
        assert_eq!(one(&out, "done")["ok"], true);
        // The server counted the same bytes: every upload byte arrived, every
        // download byte was sent.
        let dialer_id = peer_id_of_seed(dial_seed);
        let served = l.proc.wait_for("perf_served", Duration::from_secs(10), |v| v["peer_id"] == dialer_id.as_str()).await;
        assert_eq!(served["impl"], listener.name());
        assert_eq!((served["received_bytes"].as_u64(), served["sent_bytes"].as_u64()), (Some(PERF_UP), Some(PERF_DOWN)), "{served}");
        eprintln!("perf {} -> {}: {PERF_UP} B up, {PERF_DOWN} B down in {secs:.3} s", dialer.name(), listener.name());
    };
    tokio::time::timeout(Duration::from_secs(120), run).await.expect("perf run timed out");
}

#[tokio::test]
async fn perf_rust_libp2p_listens_rhizome_dials() {
    perf(Impl::RustLibp2p, Impl::Rhizome, 71, 72).await
}

#[tokio::test]
async fn perf_rhizome_listens_rust_libp2p_dials() {
    perf(Impl::Rhizome, Impl::RustLibp2p, 73, 74).await
}

#[tokio::test]
async fn perf_js_libp2p_listens_rhizome_dials() {
    perf(Impl::Js, Impl::Rhizome, 75, 76).await
}

#[tokio::test]
async fn perf_rhizome_listens_js_libp2p_dials() {
    perf(Impl::Rhizome, Impl::Js, 77, 78).await
}

#[tokio::test]
async fn perf_py_libp2p_listens_rhizome_dials() {
    perf(Impl::Py, Impl::Rhizome, 79, 80).await
}

#[tokio::test]
async fn perf_rhizome_listens_py_libp2p_dials() {
    perf(Impl::Rhizome, Impl::Py, 81, 82).await
}
