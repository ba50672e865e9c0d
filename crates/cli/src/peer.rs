//! What `listen`, `dial` and `demo` share: identity, node set-up, served protocols.

use std::time::Duration;

use anyhow::Context as _;
use rand::RngCore as _;
use rhizome::identify::{self, Identify, Info};
use rhizome::{Keypair, KeypairExt as _, Multiaddr, Node, PeerId, Stream, StreamCtx, perf, ping};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::args::KeyArgs;

/// The echo protocol `listen --echo` serves and `dial --echo` checks.
pub const ECHO_PROTOCOL: &str = "/rhizome-test/echo/1.0.0";
/// Bytes `dial --echo` sends.
pub const ECHO_BYTES: usize = 100_000;

/// The keypair selected by `--seed` / `--key` (or a fresh one).
pub fn keypair(args: &KeyArgs) -> anyhow::Result<Keypair> {
    if let Some(n) = args.seed {
        return Ok(Keypair::from_seed([n; 32]));
    }
    if let Some(path) = &args.key {
        return Keypair::load(path).with_context(|| format!("loading key {}", path.display()));
    }
    Keypair::generate().context("generating a key")
}

/// A running node with identify, ping and perf (and optionally echo) served.
pub struct Peer {
    pub node: Node,
    pub identify: Identify,
    pub perf: perf::Server,
}

/// Starts a node: TCP, Noise, yamux; identify, ping and perf served; echo if asked.
pub async fn start(keypair: Keypair, listen: &[Multiaddr], bootstrap: &[Multiaddr], echo: bool) -> anyhow::Result<Peer> {
    let mut builder = Node::builder().keypair(keypair).tcp().bootstrap(bootstrap.iter().cloned());
    for addr in listen {
        builder = builder.listen(addr.clone());
    }
    let node = builder.build().await.context("starting node")?;
    ping::serve(&node, &ping::Config::default());
    let perf = perf::serve(&node, &perf::Config::default());
    if echo {
        node.set_stream_handler(ECHO_PROTOCOL, serve_echo)?;
    }
    let identify = Identify::start(&node, identify::Config::default());
    Ok(Peer { node, identify, perf })
}

/// Echoes every byte until the remote half-closes, then closes.
pub async fn serve_echo(mut stream: Stream, _ctx: StreamCtx) -> std::io::Result<()> {
    let (mut r, mut w) = tokio::io::split(&mut stream);
    tokio::io::copy(&mut r, &mut w).await?;
    w.shutdown().await
}

/// Sends `len` random bytes on the echo protocol while reading them back; checks them.
pub async fn check_echo(node: &Node, peer: PeerId, len: usize) -> anyhow::Result<()> {
    let mut payload = vec![0u8; len];
    rand::rng().fill_bytes(&mut payload);
    let stream = node.open_stream(peer, ECHO_PROTOCOL).await.context("opening echo stream")?;
    let (mut r, mut w) = tokio::io::split(stream);
    let write = async {
        w.write_all(&payload).await?;
        w.shutdown().await
    };
    let read = async {
        let mut back = Vec::with_capacity(len);
        r.read_to_end(&mut back).await.map(|_| back)
    };
    let (written, back) = tokio::join!(write, read);
    written.context("writing echo payload")?;
    let back = back.context("reading echo")?;
    anyhow::ensure!(back == payload, "echo returned {} bytes that differ from the {len} sent", back.len());
    Ok(())
}

/// The fields of an `identify` line.
pub fn identify_json(peer: PeerId, info: &Info) -> Value {
    json!({
        "peer_id": peer.to_string(),
        "agent_version": info.agent_version,
        "protocol_version": info.protocol_version,
        "protocols": info.protocols,
        "listen_addrs": info.listen_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "observed_addr": info.observed_addr.as_ref().map(ToString::to_string),
    })
}

/// Waits for the automatic identify of `peer` (started when the connection opened);
/// asks explicitly if it does not arrive in time.
pub async fn identified(
    peer_state: &Peer,
    peer: PeerId,
    events: &mut tokio::sync::broadcast::Receiver<identify::Event>,
) -> anyhow::Result<Info> {
    if let Some(info) = peer_state.identify.info(&peer) {
        return Ok(info);
    }
    let wait = async {
        loop {
            match events.recv().await {
                Ok(identify::Event::Received { peer: p, info }) if p == peer => return Some(info),
                Ok(identify::Event::Error { peer: p, .. }) if p == peer => return None,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), wait).await {
        Ok(Some(info)) => Ok(info),
        _ => peer_state.identify.identify(peer).await.context("identify"),
    }
}
