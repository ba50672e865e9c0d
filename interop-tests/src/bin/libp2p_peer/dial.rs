//! `dial`: connect to the command-line multiaddr, identify, ping on one
//! `/ipfs/ping/1.0.0` stream, optionally run the echo and perf tests, then print `done`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, StreamExt as _};
use libp2p::{Multiaddr, PeerId, identify, multiaddr::Protocol, swarm::SwarmEvent};
use serde_json::json;

use crate::{
    BehaviourEvent, DialArgs, ECHO_PROTOCOL, ECHO_SIZE, PING_PROTOCOL, PING_SIZE, build_swarm, emit, identify_fields, keypair, log_event,
    serve_echo, transport_addr,
};

pub(crate) async fn dial(args: DialArgs) -> i32 {
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
    let mut swarm = build_swarm(keypair(args.key_type, args.seed)?)?;
    serve_echo(&swarm)?;
    crate::perf::serve_perf(&swarm)?;
    let mut control = swarm.behaviour().stream.new_control();
    swarm.dial(addr.clone()).with_context(|| format!("dial {addr}"))?;

    // Steps 1 and 2: connect, then wait for the remote's identify response.
    loop {
        match swarm.select_next_some().await {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } if peer_id == remote => emit(
                "connected",
                json!({
                    "peer_id": peer_id.to_string(),
                    "remote_addr": transport_addr(endpoint.get_remote_address()).to_string(),
                }),
            ),
            SwarmEvent::OutgoingConnectionError { error, .. } => bail!("dial failed: {error}"),
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } if peer_id == remote => {
                bail!("connection closed before identify completed: {cause:?}")
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) if peer_id == remote => {
                emit("identify", identify_fields(peer_id, &info));
                break;
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Error { peer_id, error, .. })) if peer_id == remote => {
                bail!("identify failed: {error}")
            }
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
        if let Some([up, down]) = args.perf.as_deref() {
            crate::perf::perf_test(&mut control, remote, *up, *down).await?;
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
                if let SwarmEvent::ConnectionClosed { num_established: 0, .. } = swarm.select_next_some().await {
                    break;
                }
            }
        })
        .await;
    }
    result
}

/// One `/ipfs/ping/1.0.0` stream, `count` round trips of 32 random bytes.
async fn ping_test(control: &mut libp2p_stream::Control, remote: PeerId, count: u32) -> anyhow::Result<()> {
    let mut stream = control.open_stream(remote, PING_PROTOCOL).await.map_err(|e| anyhow!("ping: {e}"))?;
    for seq in 0..count {
        let payload: [u8; PING_SIZE] = rand::random();
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
    let stream = control.open_stream(remote, ECHO_PROTOCOL).await.map_err(|e| anyhow!("echo: {e}"))?;
    let payload: Vec<u8> = (0..ECHO_SIZE).map(|_| rand::random::<u8>()).collect();
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
    if echoed.len() != ECHO_SIZE {
        bail!("echo: got {} bytes back, sent {ECHO_SIZE}", echoed.len());
    }
    if echoed != payload {
        bail!("echo: the {ECHO_SIZE} bytes echoed back differ from those sent");
    }
    emit("echo", json!({"peer_id": remote.to_string(), "bytes": ECHO_SIZE, "ok": true}));
    Ok(())
}
