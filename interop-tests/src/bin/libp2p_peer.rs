//! rust-libp2p interop peer (`"impl":"rust-libp2p"`).
//!
//! Implements the command-line / JSON-lines contract in `interop-tests/PEERS.md`
//! on top of crates.io `libp2p` 0.57 (TCP + noise + yamux, ping, identify) and
//! `libp2p-stream` for the custom echo protocol and the dialer's explicit ping
//! stream.

use std::{
    io::{Read as _, Write as _},
    time::{Duration, Instant},
};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{
    Multiaddr, PeerId, Stream, StreamProtocol, Swarm, SwarmBuilder, identify,
    identity::Keypair,
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

#[derive(Parser)]
#[command(name = "libp2p_peer", about = "rust-libp2p interop peer (see interop-tests/PEERS.md)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Listen on 127.0.0.1 and report connections and identify results.
    Listen(ListenArgs),
    /// Dial a peer, identify it, ping it and optionally run the echo test.
    Dial(DialArgs),
}

#[derive(Args)]
struct ListenArgs {
    /// Ed25519 secret key = 32 bytes all equal to N (random key if absent).
    #[arg(long)]
    seed: Option<u8>,
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
    /// Ed25519 secret key = 32 bytes all equal to N (random key if absent).
    #[arg(long)]
    seed: Option<u8>,
    /// Bound on the whole run, in seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// Number of 32-byte pings sent on a single /ipfs/ping/1.0.0 stream.
    #[arg(long, default_value_t = 1)]
    pings: u32,
    /// Run the /rhizome-test/echo/1.0.0 test (100000 bytes).
    #[arg(long)]
    echo: bool,
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
    let code = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async {
            match cli.command {
                Command::Listen(args) => listen(args).await,
                Command::Dial(args) => dial(args).await,
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
fn emit(event: &str, fields: Value) {
    let mut line = serde_json::Map::new();
    line.insert("event".into(), event.into());
    line.insert("impl".into(), IMPL.into());
    if let Value::Object(fields) = fields {
        line.extend(fields);
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", Value::Object(line));
    let _ = out.flush();
}

fn keypair(seed: Option<u8>) -> anyhow::Result<Keypair> {
    match seed {
        Some(n) => Keypair::ed25519_from_bytes([n; 32]).context("invalid ed25519 seed"),
        None => Ok(Keypair::generate_ed25519()),
    }
}

fn build_swarm(keypair: Keypair) -> anyhow::Result<Swarm<Behaviour>> {
    let swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::new().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )?
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
    let mut incoming = swarm
        .behaviour()
        .stream
        .new_control()
        .accept(ECHO_PROTOCOL)
        .map_err(|e| anyhow!("registering {ECHO_PROTOCOL}: {e}"))?;
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
    let observed_addr = if info.observed_addr.is_empty() {
        Value::Null
    } else {
        info.observed_addr.to_string().into()
    };
    json!({
        "peer_id": peer.to_string(),
        "agent_version": info.agent_version,
        "protocol_version": info.protocol_version,
        "protocols": info.protocols.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "listen_addrs": info.listen_addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "observed_addr": observed_addr,
    })
}

/// Diagnostics for swarm events a mode does not otherwise act on.
fn log_event(event: &SwarmEvent<BehaviourEvent>) {
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Ping(ping::Event {
            peer,
            result: Err(e),
            ..
        })) => eprintln!("ping behaviour: failure with {peer}: {e}"),
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error {
            peer_id,
            error,
            ..
        })) => eprintln!("identify: error with {peer_id}: {error}"),
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
            eprintln!("connection to {peer_id} closed: {cause:?}")
        }
        SwarmEvent::IncomingConnectionError {
            send_back_addr,
            error,
            ..
        } => eprintln!("incoming connection from {send_back_addr} failed: {error}"),
        SwarmEvent::OutgoingConnectionError { error, .. } => {
            eprintln!("outgoing connection failed: {error}")
        }
        _ => {}
    }
}

// ---------------------------------------------------------------- listen ---

async fn listen(args: ListenArgs) -> i32 {
    match run_listener(args).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("listen failed: {e:#}");
            1
        }
    }
}

async fn run_listener(args: ListenArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut swarm = build_swarm(keypair(args.seed)?)?;
    let local_peer_id = *swarm.local_peer_id();
    serve_echo(&swarm)?;
    let listen_addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", args.port).parse()?;
    swarm.listen_on(listen_addr)?;

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut stdin_closed = stdin_eof();
    let deadline = tokio::time::sleep(Duration::from_secs(args.max_seconds));
    tokio::pin!(deadline);

    loop {
        let event = tokio::select! {
            event = swarm.select_next_some() => event,
            _ = sigterm.recv() => { eprintln!("SIGTERM: exiting"); return Ok(()) }
            _ = sigint.recv() => { eprintln!("SIGINT: exiting"); return Ok(()) }
            _ = &mut stdin_closed => { eprintln!("stdin closed: exiting"); return Ok(()) }
            _ = &mut deadline => { eprintln!("--max-seconds reached: exiting"); return Ok(()) }
        };
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let addr = address.with(Protocol::P2p(local_peer_id));
                emit(
                    "listening",
                    json!({"peer_id": local_peer_id.to_string(), "addr": addr.to_string()}),
                );
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => emit(
                "connection",
                json!({
                    "peer_id": peer_id.to_string(),
                    "remote_addr": endpoint.get_remote_address().to_string(),
                }),
            ),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => emit("identify", identify_fields(peer_id, &info)),
            SwarmEvent::ListenerClosed { reason, .. } => {
                bail!("listener closed: {reason:?}")
            }
            other => log_event(&other),
        }
    }
}

/// Resolves once stdin reaches EOF (or fails). Uses a plain thread because a
/// blocking stdin read cannot be cancelled; `main` exits with `process::exit`.
fn stdin_eof() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    rx
}

// ------------------------------------------------------------------ dial ---

async fn dial(args: DialArgs) -> i32 {
    let (addr, remote) = match parse_dial_target(&args.multiaddr) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("error: {e:#}");
            return 2;
        }
    };
    let limit = Duration::from_secs(args.timeout);
    let outcome = match tokio::time::timeout(limit, run_dialer(&args, addr, remote)).await {
        Ok(result) => result,
        Err(_) => Err(anyhow!("timed out after {} s", args.timeout)),
    };
    match outcome {
        Ok(()) => {
            emit("done", json!({"ok": true}));
            0
        }
        Err(e) => {
            emit("done", json!({"ok": false, "error": format!("{e:#}")}));
            1
        }
    }
}

fn parse_dial_target(s: &str) -> anyhow::Result<(Multiaddr, PeerId)> {
    let addr: Multiaddr = s.parse().with_context(|| format!("invalid multiaddr {s:?}"))?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok((addr, peer)),
        _ => bail!("multiaddr {s:?} does not end in /p2p/<peer id>"),
    }
}

async fn run_dialer(args: &DialArgs, addr: Multiaddr, remote: PeerId) -> anyhow::Result<()> {
    let mut swarm = build_swarm(keypair(args.seed)?)?;
    serve_echo(&swarm)?;
    let mut control = swarm.behaviour().stream.new_control();
    swarm.dial(addr.clone()).with_context(|| format!("dial {addr}"))?;

    // Steps 1 and 2: connect, then wait for the remote's identify response.
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } if peer_id == remote => emit(
                "connected",
                json!({
                    "peer_id": peer_id.to_string(),
                    "remote_addr": endpoint.get_remote_address().to_string(),
                }),
            ),
            SwarmEvent::OutgoingConnectionError { error, .. } => bail!("dial failed: {error}"),
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } if peer_id == remote => {
                bail!("connection closed before identify completed: {cause:?}")
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) if peer_id == remote => {
                emit("identify", identify_fields(peer_id, &info));
                break;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error {
                peer_id,
                error,
                ..
            })) if peer_id == remote => bail!("identify failed: {error}"),
            other => log_event(&other),
        }
    }

    // Steps 3 and 4 run on streams while the swarm keeps being driven here.
    let steps = async {
        if args.pings > 0 {
            ping_test(&mut control, remote, args.pings).await?;
        }
        if args.echo {
            echo_test(&mut control, remote).await?;
        }
        anyhow::Ok(())
    };
    tokio::pin!(steps);
    let result = loop {
        tokio::select! {
            result = &mut steps => break result,
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. }
                    if peer_id == remote =>
                {
                    break Err(anyhow!("connection to remote closed: {cause:?}"));
                }
                other => log_event(&other),
            },
        }
    };

    // Best-effort graceful close so the remote sees a clean shutdown.
    if swarm.disconnect_peer_id(remote).is_ok() {
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                if let SwarmEvent::ConnectionClosed { num_established: 0, .. } =
                    swarm.select_next_some().await
                {
                    break;
                }
            }
        })
        .await;
    }
    result
}

/// One `/ipfs/ping/1.0.0` stream, `count` round trips of 32 random bytes.
async fn ping_test(
    control: &mut libp2p_stream::Control,
    remote: PeerId,
    count: u32,
) -> anyhow::Result<()> {
    let mut stream = control
        .open_stream(remote, PING_PROTOCOL)
        .await
        .map_err(|e| anyhow!("ping: {e}"))?;
    for seq in 0..count {
        let mut payload = [0u8; PING_SIZE];
        rand::fill(&mut payload[..]);
        let mut echoed = [0u8; PING_SIZE];
        let start = Instant::now();
        stream.write_all(&payload).await.context("ping: write")?;
        stream.flush().await.context("ping: flush")?;
        stream.read_exact(&mut echoed).await.context("ping: read")?;
        let rtt = start.elapsed();
        if echoed != payload {
            bail!("ping {seq}: echoed payload differs from what was sent");
        }
        emit(
            "ping",
            json!({
                "peer_id": remote.to_string(),
                "rtt_ms": rtt.as_secs_f64() * 1000.0,
                "seq": seq,
            }),
        );
    }
    // Half-close; the responder then ends its side.
    if let Err(e) = stream.close().await {
        eprintln!("ping: closing the stream failed: {e}");
    }
    Ok(())
}

/// Writes 100000 random bytes (while reading concurrently), half-closes, reads
/// to EOF and compares.
async fn echo_test(control: &mut libp2p_stream::Control, remote: PeerId) -> anyhow::Result<()> {
    let stream = control
        .open_stream(remote, ECHO_PROTOCOL)
        .await
        .map_err(|e| anyhow!("echo: {e}"))?;
    let mut payload = vec![0u8; ECHO_SIZE];
    rand::fill(&mut payload[..]);
    let (mut reader, mut writer) = stream.split();
    let write = async {
        writer.write_all(&payload).await.context("echo: write")?;
        writer.close().await.context("echo: half-close")?;
        anyhow::Ok(())
    };
    let read = async {
        let mut echoed = Vec::with_capacity(ECHO_SIZE);
        reader.read_to_end(&mut echoed).await.context("echo: read")?;
        anyhow::Ok(echoed)
    };
    let ((), echoed) = futures::try_join!(write, read)?;
    if echoed != payload {
        bail!(
            "echo: got {} bytes back, expected the {} bytes sent",
            echoed.len(),
            ECHO_SIZE
        );
    }
    emit(
        "echo",
        json!({"peer_id": remote.to_string(), "bytes": ECHO_SIZE, "ok": true}),
    );
    Ok(())
}
