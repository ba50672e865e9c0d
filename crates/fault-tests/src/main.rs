#![doc = include_str!("../README.md")]
//! `fault-peer`: one end of a hash-checked transfer, run by the fault tests inside a
//! network namespace (`ip netns exec NAME fault-peer …`).
//!
//! The sender streams `BYTES` deterministic bytes and half-closes; the receiver answers
//! with the SHA-256 of what it read; the sender compares. Every run ends with one JSON
//! line on stdout: `{"ok":true,…}` (exit 0) or `{"ok":false,"error":…,"kind":…}` (exit 2).

mod delay;
mod dht;
mod hdht;
mod payload;
mod tcp;
mod udx;

use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// TCP+Noise+yamux: listen on ADDR, print `LISTEN <multiaddr>`, answer transfers.
    TcpRecv { addr: rhizome::Multiaddr },
    /// TCP+Noise+yamux: dial ADDR (with /p2p/), send BYTES, check the hash.
    TcpSend { addr: rhizome::Multiaddr, bytes: usize },
    /// UDX+secret-stream responder: bind BIND, talk to REMOTE, answer one transfer.
    UdxRecv { bind: std::net::SocketAddr, remote: std::net::SocketAddr },
    /// UDX+secret-stream initiator: send BYTES, check the hash.
    UdxSend {
        bind: std::net::SocketAddr,
        remote: std::net::SocketAddr,
        bytes: usize,
        /// RTO expiries before the UDX stream times out.
        #[arg(long, default_value_t = 6)]
        max_rto_timeouts: u32,
    },
    /// Delay line for UDP: clients of FRONT reach TARGET from BACK, MS late each way.
    UdpDelay { front: std::net::SocketAddr, back: std::net::SocketAddr, target: std::net::SocketAddr, ms: u64 },
    /// Delay line for TCP: connections to FRONT reach TARGET, MS late each way.
    TcpDelay { front: std::net::SocketAddr, target: std::net::SocketAddr, ms: u64 },
    /// NODES Kademlia nodes over TCP on 127.0.0.1, then LOOKUPS FIND_NODE lookups.
    KadLookups { nodes: usize, lookups: usize },
    /// A NODES-node Rust HyperDHT testnet on 127.0.0.1, 10 announces, then LOOKUPS lookups.
    HdhtLookups { nodes: usize, lookups: usize },
    /// hyperdht client (NAT lab): connect to PK via the DHT at BOOT, exchange BYTES each way.
    HdhtClient {
        boot: std::net::SocketAddrV4,
        pk: String,
        bytes: usize,
        /// The address the DHT socket binds (in the NAT lab: the home namespace's address).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::Ipv4Addr,
    },
    /// Five Rust hyperdht storing nodes on HOST (NAT lab's public namespace).
    HdhtTestnet {
        host: std::net::Ipv4Addr,
        /// Drop the first node that relays a handshake reply, right after it did.
        #[arg(long)]
        kill_relay: bool,
    },
    /// hyperdht client whose first connect must fail mid-punch (its relay is killed): prints
    /// the typed error, checks tasks and fds are back to baseline, connects again, exchanges.
    HdhtRetryClient {
        boot: std::net::SocketAddrV4,
        pk: String,
        bytes: usize,
        /// The address the DHT socket binds (in the NAT lab: the home namespace's address).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::Ipv4Addr,
    },
    /// hyperdht server (NAT lab): listen on the seed's key pair, serve one exchange.
    HdhtServer {
        boot: std::net::SocketAddrV4,
        seed: String,
        bytes: usize,
        /// The address the DHT socket binds (in the NAT lab: the home namespace's address).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::Ipv4Addr,
    },
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    // RUST_LOG=rhizome_hyperdht=debug shows the punch on stderr
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let start = Instant::now();
    let result = match args.cmd {
        Cmd::TcpRecv { addr } => tcp::recv(addr).await,
        Cmd::TcpSend { addr, bytes } => tcp::send(addr, bytes).await,
        Cmd::UdxRecv { bind, remote } => udx::recv(bind, remote).await,
        Cmd::UdxSend { bind, remote, bytes, max_rto_timeouts } => udx::send(bind, remote, bytes, max_rto_timeouts).await,
        Cmd::UdpDelay { front, back, target, ms } => delay::udp(front, back, target, Duration::from_millis(ms)).await,
        Cmd::TcpDelay { front, target, ms } => delay::tcp(front, target, Duration::from_millis(ms)).await,
        Cmd::KadLookups { nodes, lookups } => dht::kad_lookups(nodes, lookups).await,
        Cmd::HdhtLookups { nodes, lookups } => dht::hdht_lookups(nodes, lookups).await,
        Cmd::HdhtClient { boot, pk, bytes, host } => hdht::client(boot, &pk, bytes, host).await,
        Cmd::HdhtTestnet { host, kill_relay: false } => hdht::testnet(host).await,
        Cmd::HdhtTestnet { host, kill_relay: true } => hdht::testnet_killing_relay(host).await,
        Cmd::HdhtRetryClient { boot, pk, bytes, host } => hdht::retry_client(boot, &pk, bytes, host).await,
        Cmd::HdhtServer { boot, seed, bytes, host } => hdht::server(boot, &seed, bytes, host).await,
    };
    let ms = start.elapsed().as_millis() as u64;
    match result {
        Ok(bytes) => {
            println!("{}", serde_json::json!({ "ok": true, "bytes": bytes, "ms": ms }));
        }
        Err(e) => {
            let kind = e.chain().find_map(|c| c.downcast_ref::<std::io::Error>()).map(|io| format!("{:?}", io.kind()));
            println!("{}", serde_json::json!({ "ok": false, "error": format!("{e:#}"), "kind": kind, "ms": ms }));
            std::process::exit(2);
        }
    }
}
