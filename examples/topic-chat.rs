//! Topic chat: everyone who joins the same topic name chats, Rust or Node.js.
//!
//!   rhizome swarm testnet                       # a local DHT; note its bootstrap address
//!   cargo run -p rhizome-examples --bin topic-chat -- 127.0.0.1:PORT lobby
//!   node examples/topic-chat.mjs 127.0.0.1:PORT lobby   # a Node hyperswarm peer, same topic
//!
//! The topic is SHA-256 of its name. Every line typed goes to every peer on the topic;
//! lines from peers are printed as `[abcd1234] text` (the sender's key, shortened).

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};

use rhizome::hyperswarm::{Config, DhtNetwork, Hyperswarm, JoinOpts, Keypair, PeerConnection, hex};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, WriteHalf};

/// Per peer: the serial of its connection (a newer duplicate replaces an older one) and
/// the write half.
type Writers = Arc<Mutex<HashMap<[u8; 32], (u64, WriteHalf<PeerConnection>)>>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(boot), Some(name)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: topic-chat HOST:PORT TOPIC_NAME");
    };
    let bootstrap: SocketAddrV4 = boot.replace("localhost", "127.0.0.1").parse()?;
    let topic: [u8; 32] = Sha256::digest(name.as_bytes()).into();

    let swarm = Hyperswarm::standalone(Keypair::generate(), DhtNetwork::bind(vec![bootstrap]).await?, Config::default());
    let mut connections = swarm.connections().ok_or_else(|| anyhow::anyhow!("connections taken"))?;
    let mut joined = swarm.join(topic, JoinOpts::default()).await?;
    if !joined.flushed().await {
        anyhow::bail!("could not announce the topic");
    }
    println!("topic-chat: joined {name:?} as {}", short(&swarm.public_key()));

    let writers: Writers = Arc::default();
    let w = writers.clone();
    // Each connection: remember its write half, print what it sends.
    tokio::spawn(async move {
        for serial in 0u64.. {
            let Some(conn) = connections.recv().await else { break };
            let key = *conn.stream.remote_public_key();
            println!("* {} joined", short(&key));
            let (r, wh) = tokio::io::split(conn.stream);
            lock(&w).insert(key, (serial, wh));
            let w = w.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    println!("[{}] {line}", short(&key));
                }
                let mut w = lock(&w);
                if w.get(&key).is_some_and(|(s, _)| *s == serial) {
                    w.remove(&key);
                    println!("* {} left", short(&key));
                }
            });
        }
    });

    // Typed lines go to every peer.
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = stdin.next_line().await? {
        let peers: Vec<_> = lock(&writers).drain().collect();
        let mut kept = Vec::new();
        for (key, (serial, mut wh)) in peers {
            if wh.write_all(format!("{line}\n").as_bytes()).await.is_ok() {
                kept.push((key, (serial, wh)));
            }
        }
        let mut w = lock(&writers);
        for (key, entry) in kept {
            w.entry(key).or_insert(entry); // unless a newer connection arrived meanwhile
        }
    }
    joined.leave().await;
    swarm.destroy().await;
    Ok(())
}

fn short(key: &[u8; 32]) -> String {
    hex(&key[..4])
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
