//! `listen`: accept connections on 127.0.0.1 and report `listening`,
//! `connection` and `identify` lines until a signal, stdin EOF or --max-seconds.

use std::{io::Read as _, time::Duration};

use anyhow::{Context as _, bail};
use futures::StreamExt as _;
use libp2p::{Multiaddr, identify, multiaddr::Protocol, swarm::SwarmEvent};
use serde_json::json;

use crate::{BehaviourEvent, ListenArgs, build_swarm, emit, identify_fields, keypair, log_event, serve_echo, transport_addr};

pub(crate) async fn listen(args: ListenArgs) -> i32 {
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

    let mut swarm = build_swarm(keypair(args.key_type, args.seed)?)?;
    let local_peer_id = *swarm.local_peer_id();
    serve_echo(&swarm)?;
    crate::perf::serve_perf(&swarm)?;
    if args.port != 0 {
        // libp2p-tcp listens with SO_REUSEPORT, so binding a port that another
        // SO_REUSEPORT socket holds would silently "succeed"; check it is free first.
        std::net::TcpListener::bind(("127.0.0.1", args.port)).with_context(|| format!("port {} is not free", args.port))?;
    }
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
                emit("listening", json!({"peer_id": local_peer_id.to_string(), "addr": addr.to_string()}));
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => emit(
                "connection",
                json!({
                    "peer_id": peer_id.to_string(),
                    "remote_addr": transport_addr(endpoint.get_remote_address()).to_string(),
                }),
            ),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                emit("identify", identify_fields(peer_id, &info))
            }
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
