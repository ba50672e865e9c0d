//! Connections through a testnet of Rhizome storing nodes only (127.0.0.1): Rust client and
//! Rust server, Rust client and Node server, Node client and Rust server; topic
//! announce/lookup served by our store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::testnet::Testnet;
use rhizome_hyperdht::{Dht, Keypair, SecretStream};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

fn script_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    assert!(dir.join("node_modules/hyperdht").is_dir(), "run `npm ci` in {}", dir.display());
    dir
}

fn unhex32(s: &str) -> [u8; 32] {
    let v: Vec<u8> = (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect();
    v.try_into().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn peer(tn: &Testnet) -> Arc<Dht> {
    Arc::new(Dht::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), tn.bootstrap(), Config::default()).await.unwrap())
}

async fn echo_once(mut s: SecretStream<rhizome_udx::Stream>) {
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).await.unwrap();
    let mut out = b"echo:".to_vec();
    out.extend_from_slice(&buf[..n]);
    s.write_all(&out).await.unwrap();
    s.flush().await.unwrap();
    // keep the stream until the client has read the echo
    let _ = timeout(Duration::from_secs(5), s.read(&mut buf)).await;
}

async fn ask(s: &mut SecretStream<rhizome_udx::Stream>, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    s.flush().await.unwrap();
    let mut buf = [0u8; 128];
    let n = s.read(&mut buf).await.unwrap();
    buf[..n].to_vec()
}

#[tokio::test]
async fn rust_to_rust_through_rhizome_relays() {
    timeout(Duration::from_secs(60), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let ours = tn.addresses();
        let (a, b) = (peer(&tn).await, peer(&tn).await);
        let server_kp = Keypair::from_seed(&[0x31; 32]);
        let mut server = a.listen(server_kp.clone()).await.unwrap();
        let relays = server.relay_addresses();
        assert!(!relays.is_empty() && relays.iter().all(|r| ours.contains(r)), "{relays:?}");
        assert!(tn.stats().router_entries >= 1);
        let found = b.find_peer(&server_kp.public_key()).await.unwrap().expect("router record");
        assert_eq!(found.public_key, server_kp.public_key());
        let accept = tokio::spawn(async move {
            let s = server.accept().await.unwrap();
            echo_once(s).await;
            server
        });
        let mut c = b.connect(&Keypair::from_seed(&[0x32; 32]), &server_kp.public_key(), &relays).await.unwrap();
        assert_eq!(ask(&mut c, b"hi").await, b"echo:hi");
        let server = accept.await.unwrap();
        assert!(tn.stats().handshakes_answered >= 1, "{:?}", tn.stats());

        // topic records through our store
        let topic = [0x44; 32];
        let kp = Keypair::from_seed(&[0x45; 32]);
        a.announce(&topic, &kp, &relays).await.unwrap();
        let got = b.lookup(&topic).await.unwrap().collect().await;
        assert!(got.iter().any(|p| p.public_key == kp.public_key() && p.relay_addresses == relays), "{got:?}");
        a.unannounce(&topic, &kp).await.unwrap();
        let got = b.lookup(&topic).await.unwrap().collect().await;
        assert!(got.iter().all(|p| p.public_key != kp.public_key()), "unannounced: {got:?}");
        server.close().await;
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn rust_client_node_server_through_rhizome_relays() {
    timeout(Duration::from_secs(60), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let mut child = Command::new("node")
            .args(["hdht-node-peers.mjs", "echo-server", &tn.bootstrap()[0].port().to_string()])
            .current_dir(script_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let _stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let hello: Value = serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        assert!(hello.get("error").is_none(), "{hello}");
        let pk = unhex32(hello["pk"].as_str().unwrap());
        let b = peer(&tn).await;
        // no relays given: the client finds the server's record with FIND_PEER on our nodes
        let mut c = b.connect(&Keypair::from_seed(&[0x33; 32]), &pk, &[]).await.unwrap();
        assert_eq!(ask(&mut c, b"hello").await, b"echo:hello");
        assert!(tn.stats().handshakes_answered >= 1, "{:?}", tn.stats());
    })
    .await
    .expect("timed out");
}

#[tokio::test]
async fn node_client_rust_server_through_rhizome_relays() {
    timeout(Duration::from_secs(60), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let a = peer(&tn).await;
        let server_kp = Keypair::from_seed(&[0x34; 32]);
        let mut server = a.listen(server_kp.clone()).await.unwrap();
        let accept = tokio::spawn(async move {
            let s = server.accept().await.unwrap();
            echo_once(s).await;
            server
        });
        let out = Command::new("node")
            .args(["hdht-node-peers.mjs", "dial", &tn.bootstrap()[0].port().to_string(), &hex(&server_kp.public_key())])
            .current_dir(script_dir())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let v: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().last().unwrap()).unwrap();
        assert_eq!(v["got"], "echo:ping from node", "{v}");
        accept.await.unwrap().close().await;
        assert!(tn.stats().handshakes_answered >= 1, "{:?}", tn.stats());
    })
    .await
    .expect("timed out");
}

/// Forged relay traffic sent straight at one of our relays: a FROM_SERVER naming a victim,
/// a FROM_CLIENT with a victim as relayAddress, a holepunch with a victim as peerAddress.
/// The victim socket receives nothing; the real server still gets the client's handshake.
#[tokio::test]
async fn forged_relay_messages_reach_no_victim() {
    use rhizome_hyperdht::message::Request;
    use rhizome_hyperdht::wire::handshake::{HandshakeMessage, HolepunchMessage, Mode};
    use rhizome_hyperdht::wire::ns::command;
    timeout(Duration::from_secs(30), async {
        let tn = Testnet::spawn(5).await.unwrap();
        let a = peer(&tn).await;
        let server_kp = Keypair::from_seed(&[0x35; 32]);
        let server = a.listen(server_kp.clone()).await.unwrap();
        let relay = server.relay_addresses()[0];
        let target = rhizome_hyperdht::wire::mutable::hash(&server_kp.public_key());
        let victim = tokio::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let victim_addr = match victim.local_addr().unwrap() {
            std::net::SocketAddr::V4(v) => v,
            other => panic!("{other}"),
        };
        let attacker = tokio::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let send = |command: u64, tid: u16, value: Vec<u8>| {
            Request { tid, to: relay, id: None, token: None, internal: false, command, target: Some(target), value: Some(value) }.encode()
        };
        let hs = |mode, peer, relay_address| HandshakeMessage { mode, noise: vec![7; 48], peer_address: peer, relay_address }.encode();
        let before = tn.stats();
        for tid in 0..50u16 {
            for d in [
                send(command::PEER_HANDSHAKE, tid, hs(Mode::FromServer, Some(victim_addr), None)),
                send(command::PEER_HANDSHAKE, tid, hs(Mode::FromRelay, Some(victim_addr), Some(victim_addr))),
                send(
                    command::PEER_HOLEPUNCH,
                    tid,
                    HolepunchMessage { mode: Mode::FromServer, id: 0, payload: vec![1; 40], peer_address: Some(victim_addr) }.encode(),
                ),
                send(
                    command::PEER_HOLEPUNCH,
                    tid,
                    HolepunchMessage { mode: Mode::FromClient, id: 0, payload: vec![1; 40], peer_address: Some(victim_addr) }.encode(),
                ),
                send(command::PEER_HANDSHAKE, tid, hs(Mode::FromClient, None, Some(victim_addr))),
            ] {
                attacker.send_to(&d, std::net::SocketAddr::V4(relay)).await.unwrap();
            }
        }
        let mut buf = [0u8; 2048];
        let got = timeout(Duration::from_millis(1500), victim.recv_from(&mut buf)).await;
        assert!(got.is_err(), "the victim received {:?}", got.map(|r| r.map(|(n, from)| format!("{n} bytes from {from}"))));
        let after = tn.stats();
        assert_eq!(after.handshakes_answered, before.handshakes_answered, "no forged FROM_SERVER was accepted");
        assert!(after.handshakes_forwarded >= before.handshakes_forwarded + 50, "the FROM_CLIENTs went to the server only");
        server.close().await;
    })
    .await
    .expect("timed out");
}
