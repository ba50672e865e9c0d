//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use rhizome::Multiaddr;

/// Rhizome: a peer-to-peer stack that speaks libp2p.
#[derive(Debug, Parser)]
#[command(name = "rhizome", version, about, propagate_version = true)]
pub struct Cli {
    /// Print JSON lines instead of text (listen and dial always print JSON lines).
    #[arg(long, global = true)]
    pub json: bool,
    /// Log verbosity on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate an Ed25519 identity and save it to a key file (mode 0600).
    Keygen {
        /// Where to write the key (a libp2p PrivateKey protobuf).
        #[arg(long, default_value = "rhizome.key")]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the peer id of a key.
    Id(KeyArgs),
    /// Listen for connections; serve identify, ping, perf (and echo with --echo). Prints JSON lines.
    Listen(ListenArgs),
    /// Connect to a peer, identify it and ping it. Prints JSON lines.
    Dial(DialArgs),
    /// Start a small local network on 127.0.0.1 and walk through what the stack does.
    Demo,
    /// Hyperswarm: a local DHT, serve or join a topic, DHT records. Prints JSON lines.
    #[command(subcommand)]
    Swarm(SwarmCommand),
}

/// `rhizome swarm ...`.
#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Start a local DHT of Rhizome nodes on 127.0.0.1; runs until SIGINT/SIGTERM.
    Testnet {
        /// How many DHT nodes (5 recommended; 3-node testnets stall Node connects).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=64))]
        nodes: u16,
        /// The address the nodes bind (a public address for peers behind NATs).
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::Ipv4Addr,
    },
    /// Announce a topic and accept connections (echo and perf with --echo).
    Serve(SwarmServeArgs),
    /// Look a topic up, connect to the first peer, run one step.
    Join(SwarmJoinArgs),
    /// Store a mutable (signed, with --seed) or immutable (--immutable) record.
    Put(SwarmPutArgs),
    /// Read a mutable (--public-key) or immutable (--hash) record.
    Get(SwarmGetArgs),
}

/// The DHT and identity of a swarm command.
#[derive(Debug, Clone, Args)]
pub struct SwarmCommon {
    /// DHT bootstrap nodes, HOST:PORT[,HOST:PORT...] (IPv4 or localhost).
    #[arg(long, required = true, value_delimiter = ',', value_parser = parse_host_port)]
    pub bootstrap: Vec<std::net::SocketAddrV4>,
    /// Deterministic key: the Ed25519 seed is 32 bytes equal to N (as sodium's seed keypair).
    #[arg(long, value_parser = clap::value_parser!(u8))]
    pub seed: Option<u8>,
    /// The address the DHT socket binds (0.0.0.0 for a peer behind a NAT).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::Ipv4Addr,
}

/// `rhizome swarm serve`.
#[derive(Debug, Args)]
pub struct SwarmServeArgs {
    #[command(flatten)]
    pub common: SwarmCommon,
    /// The topic, 64 hex characters.
    #[arg(long, value_parser = parse_hex32)]
    pub topic: [u8; 32],
    /// Echo every byte back (a connection starting with PERF runs perf instead).
    #[arg(long)]
    pub echo: bool,
    /// Exit after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    pub max_seconds: Option<u64>,
}

/// `rhizome swarm join`.
#[derive(Debug, Args)]
pub struct SwarmJoinArgs {
    #[command(flatten)]
    pub common: SwarmCommon,
    /// The topic, 64 hex characters.
    #[arg(long, value_parser = parse_hex32)]
    pub topic: [u8; 32],
    /// Send TEXT and check that it comes back (the server runs --echo).
    #[arg(long, conflicts_with = "perf")]
    pub send: Option<String>,
    /// Perf: upload UP bytes, then download DOWN bytes.
    #[arg(long, num_args = 2, value_names = ["UP", "DOWN"])]
    pub perf: Option<Vec<u64>>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

/// `rhizome swarm put`.
#[derive(Debug, Args)]
pub struct SwarmPutArgs {
    #[command(flatten)]
    pub common: SwarmCommon,
    /// Store an immutable record (addressed by its hash) instead of a mutable one.
    #[arg(long)]
    pub immutable: bool,
    /// The mutable record's sequence number.
    #[arg(long, default_value_t = 0, conflicts_with = "immutable")]
    pub seq: u64,
    /// The value (UTF-8).
    pub value: String,
}

/// `rhizome swarm get`.
#[derive(Debug, Args)]
pub struct SwarmGetArgs {
    #[command(flatten)]
    pub common: SwarmCommon,
    /// Read the mutable record of this public key (64 hex).
    #[arg(long, value_parser = parse_hex32, required_unless_present = "hash", conflicts_with = "hash")]
    pub public_key: Option<[u8; 32]>,
    /// Read the immutable record with this hash (64 hex).
    #[arg(long, value_parser = parse_hex32)]
    pub hash: Option<[u8; 32]>,
    /// Only a mutable record with at least this seq.
    #[arg(long, default_value_t = 0)]
    pub seq: u64,
}

/// `HOST:PORT` with an IPv4 host or `localhost`.
pub fn parse_host_port(s: &str) -> Result<std::net::SocketAddrV4, String> {
    let (host, port) = s.rsplit_once(':').ok_or_else(|| format!("{s:?} is not HOST:PORT"))?;
    let port: u16 = port.parse().map_err(|_| format!("bad port in {s:?}"))?;
    let ip = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST
    } else {
        host.parse().map_err(|_| format!("{host:?} is not an IPv4 address"))?
    };
    Ok(std::net::SocketAddrV4::new(ip, port))
}

/// 64 hex characters.
pub fn parse_hex32(s: &str) -> Result<[u8; 32], String> {
    let bytes = data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).map_err(|e| format!("not hex: {e}"))?;
    bytes.try_into().map_err(|_| "need 32 bytes (64 hex characters)".to_string())
}

/// Which identity to use.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Deterministic key: the Ed25519 secret is 32 bytes equal to N (for tests).
    #[arg(long, value_parser = clap::value_parser!(u8), conflicts_with = "key")]
    pub seed: Option<u8>,
    /// Load the key from FILE (see `rhizome keygen`).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// `rhizome listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on (repeatable).
    #[arg(long = "listen", default_value = "/ip4/127.0.0.1/tcp/0")]
    pub listen: Vec<Multiaddr>,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Peers to connect to at start (repeatable).
    #[arg(long)]
    pub bootstrap: Vec<Multiaddr>,
    /// Also serve the echo protocol `/rhizome-test/echo/1.0.0`.
    #[arg(long)]
    pub echo: bool,
    /// Exit after this many seconds (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    pub max_seconds: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9090).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// AutoNAT v1: serve dial-backs, probe our own reachability through connected
    /// peers (printing `nat_status` lines), and let Kademlia follow it (client while
    /// private, server when public).
    #[arg(long)]
    pub autonat: bool,
}

/// `rhizome dial`.
#[derive(Debug, Args)]
pub struct DialArgs {
    /// The peer's address, ideally ending in /p2p/<peer id> (then its identity is verified).
    pub addr: Multiaddr,
    #[command(flatten)]
    pub key: KeyArgs,
    /// Bound on the whole run, in seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Pings to send over one ping stream.
    #[arg(long, default_value_t = 1)]
    pub pings: u32,
    /// Also check the echo protocol `/rhizome-test/echo/1.0.0` with 100,000 bytes.
    #[arg(long)]
    pub echo: bool,
    /// Kademlia: find PEERID through the dialed peer's DHT (repeatable; the --kad-*
    /// steps run in the order given).
    #[arg(long, value_name = "PEERID")]
    pub kad_find_node: Vec<String>,
    /// Kademlia: store VALUE under KEY (UTF-8; `/pk/self` stores our public key under
    /// `/pk/` + our peer id, and ignores VALUE).
    #[arg(long, num_args = 2, value_names = ["KEY", "VALUE"])]
    pub kad_put: Vec<String>,
    /// Kademlia: read KEY (`/pk/self` as for --kad-put).
    #[arg(long, value_name = "KEY")]
    pub kad_get: Vec<String>,
    /// Run the perf protocol `/perf/1.0.0`: upload UPLOAD_BYTES, download DOWNLOAD_BYTES.
    #[arg(long, num_args = 2, value_names = ["UPLOAD_BYTES", "DOWNLOAD_BYTES"])]
    pub perf: Option<Vec<u64>>,
}
