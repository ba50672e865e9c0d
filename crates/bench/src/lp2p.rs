//! The rust-libp2p side: a swarm (TCP + noise + yamux + libp2p-stream) driven by a task.

use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, identity::Keypair, noise, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt as _};

use crate::Dir;

pub(crate) const PROTO: StreamProtocol = StreamProtocol::new("/bench/1.0.0");
pub(crate) const PROTO_DOWN: StreamProtocol = StreamProtocol::new("/bench/down/1.0.0");

fn proto(dir: Dir) -> StreamProtocol {
    match dir {
        Dir::Up => PROTO,
        Dir::Down => PROTO_DOWN,
    }
}

enum Cmd {
    Dial(Multiaddr, PeerId, oneshot::Sender<anyhow::Result<()>>),
    Disconnect(PeerId),
}

pub(crate) struct Node {
    pub(crate) peer: PeerId,
    pub(crate) addr: Multiaddr,
    pub(crate) control: libp2p_stream::Control,
    cmds: mpsc::Sender<Cmd>,
}

impl Node {
    pub(crate) async fn start(seed: u8, listen: bool) -> anyhow::Result<Self> {
        let key = Keypair::ed25519_from_bytes([seed; 32]).context("key")?;
        let peer = key.public().to_peer_id();
        let mut swarm: Swarm<libp2p_stream::Behaviour> = SwarmBuilder::with_existing_identity(key)
            .with_tokio()
            .with_tcp(tcp::Config::new().nodelay(true), noise::Config::new, yamux::Config::default)?
            .with_behaviour(|_| libp2p_stream::Behaviour::new())?
            .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
            .build();
        let control = swarm.behaviour().new_control();
        let mut addr = Multiaddr::empty();
        if listen {
            swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
            loop {
                if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                    addr = address;
                    break;
                }
            }
        }
        let (cmds, rx) = mpsc::channel(64);
        tokio::spawn(drive(swarm, rx));
        Ok(Self { peer, addr, control, cmds })
    }

    pub(crate) async fn dial(&self, addr: Multiaddr, peer: PeerId) -> anyhow::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Dial(addr, peer, tx)).await.ok().context("swarm gone")?;
        rx.await.context("swarm gone")?
    }

    /// Serves upload and download streams, like `rz::server`.
    pub(crate) fn serve(&self) -> anyhow::Result<()> {
        for dir in [Dir::Up, Dir::Down] {
            let mut incoming = self.control.clone().accept(proto(dir)).map_err(|e| anyhow::anyhow!("{e}"))?;
            tokio::spawn(async move {
                while let Some((_, s)) = incoming.next().await {
                    tokio::spawn(async move { crate::serve(&mut s.compat(), dir).await });
                }
            });
        }
        Ok(())
    }

    /// Opens a stream of `dir`'s protocol to `peer`.
    pub(crate) async fn open(&self, peer: PeerId, dir: Dir) -> anyhow::Result<Compat<libp2p::Stream>> {
        let s = self.control.clone().open_stream(peer, proto(dir)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(s.compat())
    }

    pub(crate) async fn disconnect(&self, peer: PeerId) {
        let _ = self.cmds.send(Cmd::Disconnect(peer)).await;
    }
}

async fn drive(mut swarm: Swarm<libp2p_stream::Behaviour>, mut cmds: mpsc::Receiver<Cmd>) {
    let mut waiting: Vec<(PeerId, oneshot::Sender<anyhow::Result<()>>)> = Vec::new();
    loop {
        tokio::select! {
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Dial(addr, peer, done)) => match swarm.dial(addr) {
                    Ok(()) => waiting.push((peer, done)),
                    Err(e) => { let _ = done.send(Err(e.into())); }
                },
                Some(Cmd::Disconnect(peer)) => { let _ = swarm.disconnect_peer_id(peer); }
                None => return,
            },
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                    let (ready, rest): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(p, _)| *p == peer_id);
                    waiting = rest;
                    for (_, done) in ready { let _ = done.send(Ok(())); }
                }
                SwarmEvent::OutgoingConnectionError { peer_id: Some(p), error, .. } => {
                    let (failed, rest): (Vec<_>, Vec<_>) = waiting.drain(..).partition(|(w, _)| *w == p);
                    waiting = rest;
                    for (_, done) in failed { let _ = done.send(Err(anyhow::anyhow!("{error}"))); }
                }
                _ => {}
            },
        }
    }
}
