//! rust-libp2p interop peer (`"impl":"rust-libp2p"`).
//!
//! Implements the command-line / JSON-lines contract in `interop-tests/PEERS.md`
//! on top of crates.io `libp2p` 0.57 (TCP + noise + yamux, ping, identify) and
//! `libp2p-stream` for the custom echo protocol, the dialer's explicit ping
//! stream and `/perf/1.0.0` (`libp2p_peer/perf.rs`: crates.io `libp2p-perf` is
//! built on libp2p 0.53, so the spec is implemented here). `--key-type` picks the identity key type (Ed25519, secp256k1, ECDSA or
//! RSA), so Rhizome meets every libp2p key type over the wire.
//!
//! Modules: `libp2p_peer/listen.rs` (the `listen` command) and
//! `libp2p_peer/dial.rs` (the `dial` command), `libp2p_peer/perf.rs` (perf).

// A bin crate root resolves `mod x;` next to itself (src/bin/x.rs, which Cargo
// would take for another binary), hence the explicit paths.
#[path = "libp2p_peer/dial.rs"]
mod dial;
#[path = "libp2p_peer/listen.rs"]
mod listen;
#[path = "libp2p_peer/perf.rs"]
mod perf;

use std::{io::Write as _, time::Duration};

use anyhow::{Context as _, anyhow};
use clap::{Args, Parser, Subcommand, ValueEnum};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol, Swarm, SwarmBuilder, identify,
    identity::{Keypair, ecdsa, secp256k1},
    multiaddr::Protocol,
    noise, ping,
    swarm::{NetworkBehaviour, SwarmEvent},
    tcp, yamux,
};
use serde_json::{Value, json};

const IMPL: &str = "rust-libp2p";
const AGENT_VERSION: &str = "rust-libp2p/0.57";
const PROTOCOL_VERSION: &str = "/rhizome-interop/1.0.0";
const PING_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/ping/1.0.0");
const ECHO_PROTOCOL: StreamProtocol = StreamProtocol::new("/rhizome-test/echo/1.0.0");
const PING_SIZE: usize = 32;
const ECHO_SIZE: usize = 100_000;
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// The committed RSA test key (PKCS#8 DER). libp2p-identity cannot generate RSA keys,
/// so it was generated once with `openssl genpkey` (see interop-tests/fixtures/README.md).
const RSA_KEY: &[u8] = include_bytes!("../../fixtures/rsa-2048.pk8");

#[derive(Parser)]
#[command(name = "libp2p_peer", about = "rust-libp2p interop peer (see interop-tests/PEERS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen on 127.0.0.1 (serving ping, identify, echo, perf) and report connections and identify results.
    Listen(ListenArgs),
    /// Dial a peer, identify it, ping it and optionally run the echo and perf tests.
    Dial(DialArgs),
}

/// The identity key type (`--key-type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum KeyType {
    Ed25519,
    Secp256k1,
    Ecdsa,
    Rsa,
}

#[derive(Args)]
struct ListenArgs {
    /// Secret key = 32 bytes all equal to N (random key if absent; ignored for rsa).
    #[arg(long)]
    seed: Option<u8>,
    /// Identity key type; rsa always uses the committed test key.
    #[arg(long, value_enum, default_value_t = KeyType::Ed25519)]
    key_type: KeyType,
    /// TCP port on 127.0.0.1 (0 = any).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Exit 0 after this many seconds.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
}

#[derive(Args)]
struct DialArgs {
    /// Multiaddr of the remote, ending in /p2p/<peer id>.
    multiaddr: String,
    /// Secret key = 32 bytes all equal to N (random key if absent; ignored for rsa).
    #[arg(long)]
    seed: Option<u8>,
    /// Identity key type; rsa always uses the committed test key.
    #[arg(long, value_enum, default_value_t = KeyType::Ed25519)]
    key_type: KeyType,
    /// Bound on the whole run, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Number of 32-byte pings sent on a single /ipfs/ping/1.0.0 stream.
    #[arg(long, default_value_t = 1)]
    pings: u32,
    /// Run the /rhizome-test/echo/1.0.0 test (100000 bytes).
    #[arg(long)]
    echo: bool,
    /// Run /perf/1.0.0 last: upload UPLOAD_BYTES, download DOWNLOAD_BYTES.
    #[arg(long, num_args = 2, value_names = ["UPLOAD_BYTES", "DOWNLOAD_BYTES"])]
    perf: Option<Vec<u64>>,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    ping: ping::Behaviour,
    identify: identify::Behaviour,
    stream: libp2p_stream::Behaviour,
}

fn main() {
    // clap exits with code 2 on bad arguments.
    let cli = Cli::parse();
    // Opt-in libp2p/yamux logs on stderr, e.g. RUST_LOG=debug or RUST_LOG=yamux=trace.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let code = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime.block_on(async {
            match cli.command {
                Command::Listen(args) => listen::listen(args).await,
                Command::Dial(args) => dial::dial(args).await,
            }
        }),
        Err(e) => {
            eprintln!("failed to start the tokio runtime: {e}");
            1
        }
    };
    let _ = std::io::stdout().flush();
    // Exit directly: this skips waiting for the blocking stdin-watcher thread.
    std::process::exit(code);
}

/// Prints one JSON line on stdout (`event` and `impl` first) and flushes it.
/// The object is assembled by hand so the key order does not depend on
/// serde_json's `preserve_order` feature.
fn emit(event: &str, fields: Value) {
    let mut line = format!("{{\"event\":{},\"impl\":{}", Value::from(event), Value::from(IMPL));
    if let Value::Object(fields) = fields {
        for (key, value) in fields {
            line.push_str(&format!(",{}:{}", Value::from(key), value));
        }
    }
    line.push('}');
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The identity key: for `--seed N` the secret key of 32 bytes all equal to N (an
/// Ed25519 seed, or a secp256k1 / P-256 scalar); RSA is always the committed fixture.
fn keypair(key_type: KeyType, seed: Option<u8>) -> anyhow::Result<Keypair> {
    let key = match (key_type, seed) {
        (KeyType::Ed25519, Some(n)) => Keypair::ed25519_from_bytes([n; 32]).context("invalid ed25519 seed")?,
        (KeyType::Ed25519, None) => Keypair::generate_ed25519(),
        (KeyType::Secp256k1, Some(n)) => {
            secp256k1::Keypair::from(secp256k1::SecretKey::try_from_bytes([n; 32]).context("invalid secp256k1 secret")?).into()
        }
        (KeyType::Secp256k1, None) => Keypair::generate_secp256k1(),
        (KeyType::Ecdsa, Some(n)) => {
            ecdsa::Keypair::from(ecdsa::SecretKey::try_from_bytes([n; 32]).context("invalid P-256 secret")?).into()
        }
        (KeyType::Ecdsa, None) => Keypair::generate_ecdsa(),
        (KeyType::Rsa, _) => Keypair::rsa_from_pkcs8(&mut RSA_KEY.to_vec()).context("loading the RSA test key")?,
    };
    Ok(key)
}

fn build_swarm(keypair: Keypair) -> anyhow::Result<Swarm<Behaviour>> {
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::new().nodelay(true), noise::Config::new, yamux::Config::default)?
        .with_behaviour(|key| Behaviour {
            ping: ping::Behaviour::new(ping::Config::new()),
            identify: identify::Behaviour::new(
                identify::Config::new(PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version(AGENT_VERSION.to_string())
                    // No address cache: the only address we ever dial is the one
                    // given on the command line.
                    .with_cache_size(0),
            ),
            stream: libp2p_stream::Behaviour::new(),
        })?
        .with_swarm_config(|cfg| cfg.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
        .build();
    Ok(swarm)
}

/// Serves `/rhizome-test/echo/1.0.0` on every connection of `swarm`.
/// Only echo is registered with libp2p-stream; ping and identify are served by
/// their own behaviours.
fn serve_echo(swarm: &Swarm<Behaviour>) -> anyhow::Result<()> {
    let mut incoming =
        swarm.behaviour().stream.new_control().accept(ECHO_PROTOCOL).map_err(|e| anyhow!("registering {ECHO_PROTOCOL}: {e}"))?;
    tokio::spawn(async move {
        while let Some((peer, stream)) = incoming.next().await {
            tokio::spawn(async move {
                match echo_back(stream).await {
                    Ok(n) => eprintln!("echo: served {n} bytes for {peer}"),
                    Err(e) => eprintln!("echo: stream from {peer} failed: {e:#}"),
                }
            });
        }
    });
    Ok(())
}

/// Copies everything back until the remote half-closes, then closes our side.
async fn echo_back(stream: Stream) -> anyhow::Result<u64> {
    let (mut reader, mut writer) = stream.split();
    let n = futures::io::copy(&mut reader, &mut writer).await?;
    writer.close().await?;
    Ok(n)
}

fn identify_fields(peer: PeerId, info: &identify::Info) -> Value {
    let observed_addr = if info.observed_addr.is_empty() { Value::Null } else { info.observed_addr.to_string().into() };
    json!({
        "peer_id": peer.to_string(),
        "agent_version": info.agent_version,
        "protocol_version": info.protocol_version,
        "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "listen_addrs": info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "observed_addr": observed_addr,
    })
}

/// The address without a trailing `/p2p/<id>` (a dialer's endpoint keeps it).
fn transport_addr(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if let Some(Protocol::P2p(_)) = addr.iter().last() {
        addr.pop();
    }
    addr
}

/// Diagnostics for swarm events a mode does not otherwise act on.
fn log_event(event: &SwarmEvent<BehaviourEvent>) {
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event { peer, result: Err(e), .. })) => {
            eprintln!("ping behaviour: failure with {peer}: {e}")
        }
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error { peer_id, error, .. })) => {
            eprintln!("identify: error with {peer_id}: {error}")
        }
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
            eprintln!("connection to {peer_id} closed: {cause:?}")
        }
        SwarmEvent::IncomingConnectionError { send_back_addr, error, .. } => {
            eprintln!("incoming connection from {send_back_addr} failed: {error}")
        }
        SwarmEvent::OutgoingConnectionError { error, .. } => {
            eprintln!("outgoing connection failed: {error}")
        }
        _ => {}
    }
}
