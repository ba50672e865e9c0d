//! The hyperdht peer side over a Rust `Testnet` of 5 storing nodes (no Node.js), on
//! 127.0.0.1: listen + announce, lookup, connect through the relays with 1 MiB each way,
//! one msg1 through two relays (same reply, one session), unannounce and close.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use rhizome_hyperdht::node::OutRequest;
use rhizome_hyperdht::peer::blake2b_256;
use rhizome_hyperdht::peer_handshake::ClientHandshake;
use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::testnet::Testnet;
use rhizome_hyperdht::wire::ns::command;
use rhizome_hyperdht::{Dht, Keypair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const MIB: usize = 1 << 20;

fn any() -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), 0)
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 ^ salt).collect()
}

async fn run() -> anyhow::Result<()> {
    let net = Testnet::spawn(5).await?;
    let server_dht = Arc::new(Dht::bind(any(), net.bootstrap(), Config::default()).await?);
    let client = Dht::bind(any(), net.bootstrap(), Config::default()).await?;
    let kp = Keypair::from_seed(&[0x77; 32]);
    let mut server = server_dht.listen(kp.clone()).await?;
    let relays = server.relay_addresses();
    ensure!(relays.len() == 3, "3 relays: {relays:?}");

    let topic = blake2b_256(b"rhizome rust-only topic");
    server_dht.announce(&topic, &kp, &relays).await?;
    let mut found = client.lookup(&topic).await?;
    let rec = timeout(Duration::from_secs(10), found.next()).await?.context("our record")?;
    ensure!(rec.public_key == kp.public_key() && rec.relay_addresses == relays, "{rec:?}");

    // connect with 1 MiB each way
    let me = Keypair::generate();
    let mut c = client.connect(&me, &kp.public_key(), &rec.relay_addresses).await?;
    let mut s = timeout(Duration::from_secs(10), server.accept()).await?.context("accepted")?;
    ensure!(*s.remote_public_key() == me.public_key());
    let (to_server, to_client) = (pattern(MIB, 1), pattern(MIB, 2));
    let (a, b) = (to_server.clone(), to_client.clone());
    let cw = async move {
        c.write_all(&a).await?;
        c.shutdown().await?;
        let mut got = Vec::new();
        c.read_to_end(&mut got).await?;
        anyhow::Ok(got)
    };
    let sw = async move {
        s.write_all(&b).await?;
        s.shutdown().await?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await?;
        anyhow::Ok(got)
    };
    let (at_client, at_server) = tokio::try_join!(cw, sw)?;
    ensure!(at_server == to_server && at_client == to_client, "bytes arrived intact");

    // one msg1 through two different relays: the same reply, one session
    let stream = client.socket().stream(777)?;
    let hs = ClientHandshake::new(me.clone(), kp.public_key(), client.local_addr(), stream.local_id())?;
    let target = blake2b_256(&kp.public_key());
    let mut values = Vec::new();
    for relay in &relays[..2] {
        let req = OutRequest::new(command::PEER_HANDSHAKE).target(target).value(hs.request_value());
        let (from, res) = client.request_from(*relay, req).await?;
        ensure!(from == *relay);
        let v = rhizome_hyperdht::wire::HandshakeMessage::decode(&res.value.context("value")?)?;
        values.push(v.noise);
    }
    ensure!(values[0] == values[1], "same msg2 through both relays");
    ensure!(timeout(Duration::from_secs(5), server.accept()).await.is_ok(), "one session");
    ensure!(timeout(Duration::from_secs(1), server.accept()).await.is_err(), "and only one");

    // unannounce and close
    server_dht.unannounce(&topic, &kp).await?;
    let left = client.lookup(&topic).await?.collect().await;
    ensure!(left.iter().all(|r| r.public_key != kp.public_key()), "unannounced: {left:?}");
    ensure!(client.find_peer(&kp.public_key()).await?.is_some());
    server.close().await;
    ensure!(client.find_peer(&kp.public_key()).await?.is_none(), "router entry gone");
    Ok(())
}

#[tokio::test]
async fn rust_peers_over_a_rust_testnet() -> anyhow::Result<()> {
    timeout(Duration::from_secs(60), run()).await.context("timed out")?
}
