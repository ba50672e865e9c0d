//! Kademlia interop: Rhizome's `kad` against rust-libp2p 0.57 (`libp2p-kad` 0.49)
//! `kad::Behaviour` in-process, js-libp2p `@libp2p/kad-dht` 16.4.5 (`js/kad-peer.mjs`)
//! and py-libp2p 0.8.1 `KadDHT` (`py/kad_peer.py`) as child processes — all in server
//! mode, over TCP on 127.0.0.1.
//!
//! Each operation runs in both directions, and the side that reads never holds the
//! value itself, so every answer crosses the wire between the two implementations:
//! - FIND_NODE: Rhizome finds a peer through a rust node; rust finds peers through
//!   a Rhizome node.
//! - PUT_VALUE then GET_VALUE: a record put by one implementation is read (by a
//!   fresh node of the other implementation) from the one that stored it.
//! - ADD_PROVIDER then GET_PROVIDERS: likewise for provider records.
//! - A mixed network (two Rhizome, two rust-libp2p, one js-libp2p node): every node
//!   writes a record and reads every record written by any other.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome::{Multiaddr, Node};
use rhizome_kad as kad;

/// Every step's deadline.
const STEP: Duration = Duration::from_secs(15);

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(STEP, f).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    within(what, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

/// A whole test's deadline (each step also has [`STEP`]).
async fn whole(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(90), test).await.expect("test timed out")
}

/// A Rhizome node on 127.0.0.1 with identify, ping (js-libp2p pings a new DHT
/// peer before adding it) and Kademlia in server mode.
async fn rhizome_node() -> (Node, kad::Kademlia) {
    let node = Node::builder().listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).build().await.unwrap();
    rhizome::ping::serve(&node, &rhizome::ping::Config::default());
    rhizome::identify::Identify::start(&node, rhizome::identify::Config::default());
    let kad = kad::Kademlia::start(&node, kad::Config::server());
    (node, kad)
}

fn p2p(addr: &Multiaddr, peer: rhizome::PeerId) -> Multiaddr {
    rhizome::identity::with_peer_id(addr, peer)
}

fn ours(peer: &libp2p::PeerId) -> rhizome::PeerId {
    rhizome::PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

fn theirs(peer: &rhizome::PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

/// A rust-libp2p node, driven by its own task.
mod lp2p {
    use std::collections::{HashMap, HashSet};

    use futures::StreamExt as _;
    use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
    use libp2p::{Multiaddr, PeerId, SwarmBuilder, identify, kad, noise, tcp, yamux};
    use tokio::sync::{mpsc, oneshot};

    #[derive(NetworkBehaviour)]
    struct Behaviour {
        kad: kad::Behaviour<kad::store::MemoryStore>,
        identify: identify::Behaviour,
    }

    enum Cmd {
        Dial(Multiaddr),
        RoutingTable(oneshot::Sender<Vec<PeerId>>),
        ClosestPeers(PeerId, oneshot::Sender<Vec<PeerId>>),
        Put(Vec<u8>, Vec<u8>, oneshot::Sender<Result<(), String>>),
        Get(Vec<u8>, oneshot::Sender<Option<(Option<PeerId>, Vec<u8>)>>),
        Provide(Vec<u8>, oneshot::Sender<Result<(), String>>),
        Providers(Vec<u8>, oneshot::Sender<HashSet<PeerId>>),
    }

    enum Pending {
        Closest(oneshot::Sender<Vec<PeerId>>),
        Put(oneshot::Sender<Result<(), String>>),
        Get(oneshot::Sender<Option<(Option<PeerId>, Vec<u8>)>>),
        Provide(oneshot::Sender<Result<(), String>>),
        Providers(oneshot::Sender<HashSet<PeerId>>),
    }

    /// A handle to a running rust-libp2p node.
    pub(crate) struct Peer {
        pub(crate) id: PeerId,
        pub(crate) addr: Multiaddr,
        tx: mpsc::Sender<Cmd>,
    }

    impl Peer {
        /// Starts a node listening on 127.0.0.1 with kad in server mode and identify;
        /// identify's listen addresses of kad peers go into the routing table (the
        /// usual rust-libp2p wiring).
        pub(crate) async fn start() -> Peer {
            let key = libp2p::identity::Keypair::generate_ed25519();
            let id = key.public().to_peer_id();
            let mut swarm = SwarmBuilder::with_existing_identity(key)
                .with_tokio()
                .with_tcp(tcp::Config::new().nodelay(true), noise::Config::new, yamux::Config::default)
                .unwrap()
                .with_behaviour(|key| {
                    let config = kad::Config::new(kad::PROTOCOL_NAME);
                    Behaviour {
                        kad: kad::Behaviour::with_config(key.public().to_peer_id(), kad::store::MemoryStore::new(id), config),
                        identify: identify::Behaviour::new(identify::Config::new("ipfs/0.1.0".into(), key.public())),
                    }
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(std::time::Duration::from_secs(60)))
                .build();
            swarm.behaviour_mut().kad.set_mode(Some(kad::Mode::Server));
            swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
            let addr = loop {
                if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
                    break address;
                }
            };
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(run(swarm, rx));
            Peer { id, addr, tx }
        }

        async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> T {
            let (tx, rx) = oneshot::channel();
            assert!(self.tx.send(make(tx)).await.is_ok(), "libp2p node running");
            rx.await.expect("libp2p node answered")
        }

        pub(crate) async fn dial(&self, addr: Multiaddr) {
            assert!(self.tx.send(Cmd::Dial(addr)).await.is_ok(), "libp2p node running");
        }

        pub(crate) async fn routing_table(&self) -> Vec<PeerId> {
            self.ask(Cmd::RoutingTable).await
        }

        pub(crate) async fn closest_peers(&self, target: PeerId) -> Vec<PeerId> {
            self.ask(|tx| Cmd::ClosestPeers(target, tx)).await
        }

        pub(crate) async fn put(&self, key: &[u8], value: &[u8]) -> Result<(), String> {
            self.ask(|tx| Cmd::Put(key.to_vec(), value.to_vec(), tx)).await
        }

        /// The first record a GET_VALUE lookup finds: who sent it (None: our own
        /// store) and the value.
        pub(crate) async fn get(&self, key: &[u8]) -> Option<(Option<PeerId>, Vec<u8>)> {
            self.ask(|tx| Cmd::Get(key.to_vec(), tx)).await
        }

        pub(crate) async fn provide(&self, key: &[u8]) -> Result<(), String> {
            self.ask(|tx| Cmd::Provide(key.to_vec(), tx)).await
        }

        pub(crate) async fn providers(&self, key: &[u8]) -> HashSet<PeerId> {
            self.ask(|tx| Cmd::Providers(key.to_vec(), tx)).await
        }
    }

    async fn run(mut swarm: libp2p::Swarm<Behaviour>, mut rx: mpsc::Receiver<Cmd>) {
        let mut pending: HashMap<kad::QueryId, Pending> = HashMap::new();
        let mut found: HashMap<kad::QueryId, HashSet<PeerId>> = HashMap::new();
        loop {
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    let kad = &mut swarm.behaviour_mut().kad;
                    match cmd {
                        Cmd::Dial(addr) => { let _ = swarm.dial(addr); }
                        Cmd::RoutingTable(tx) => {
                            let peers = kad.kbuckets().flat_map(|b| b.iter().map(|e| *e.node.key.preimage()).collect::<Vec<_>>()).collect();
                            let _ = tx.send(peers);
                        }
                        Cmd::ClosestPeers(target, tx) => { pending.insert(kad.get_closest_peers(target), Pending::Closest(tx)); }
                        Cmd::Put(key, value, tx) => {
                            let record = kad::Record::new(kad::RecordKey::new(&key), value);
                            match kad.put_record(record, kad::Quorum::One) {
                                Ok(id) => { pending.insert(id, Pending::Put(tx)); }
                                Err(e) => { let _ = tx.send(Err(e.to_string())); }
                            }
                        }
                        Cmd::Get(key, tx) => { pending.insert(kad.get_record(kad::RecordKey::new(&key)), Pending::Get(tx)); }
                        Cmd::Provide(key, tx) => match kad.start_providing(kad::RecordKey::new(&key)) {
                            Ok(id) => { pending.insert(id, Pending::Provide(tx)); }
                            Err(e) => { let _ = tx.send(Err(e.to_string())); }
                        },
                        Cmd::Providers(key, tx) => { pending.insert(kad.get_providers(kad::RecordKey::new(&key)), Pending::Providers(tx)); }
                    }
                }
                event = swarm.select_next_some() => on_event(&mut swarm, event, &mut pending, &mut found),
            }
        }
    }

    fn on_event(
        swarm: &mut libp2p::Swarm<Behaviour>,
        event: SwarmEvent<BehaviourEvent>,
        pending: &mut HashMap<kad::QueryId, Pending>,
        found: &mut HashMap<kad::QueryId, HashSet<PeerId>>,
    ) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }))
                if info.protocols.contains(&kad::PROTOCOL_NAME) =>
            {
                for addr in info.listen_addrs {
                    swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed { id, result, step, .. })) => {
                on_progress(id, result, step.last, pending, found);
            }
            _ => {}
        }
    }

    fn on_progress(
        id: kad::QueryId,
        result: kad::QueryResult,
        last: bool,
        pending: &mut HashMap<kad::QueryId, Pending>,
        found: &mut HashMap<kad::QueryId, HashSet<PeerId>>,
    ) {
        match (result, pending.remove(&id)) {
            (kad::QueryResult::GetClosestPeers(r), Some(Pending::Closest(tx))) => {
                let peers = match r {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                let _ = tx.send(peers.into_iter().map(|p| p.peer_id).collect());
            }
            (kad::QueryResult::PutRecord(r), Some(Pending::Put(tx))) => {
                let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
            }
            (kad::QueryResult::StartProviding(r), Some(Pending::Provide(tx))) => {
                let _ = tx.send(r.map(|_| ()).map_err(|e| e.to_string()));
            }
            (kad::QueryResult::GetRecord(r), Some(Pending::Get(tx))) => match r {
                Ok(kad::GetRecordOk::FoundRecord(rec)) => {
                    let _ = tx.send(Some((rec.peer, rec.record.value)));
                }
                _ if !last => {
                    pending.insert(id, Pending::Get(tx));
                }
                _ => {
                    let _ = tx.send(None);
                }
            },
            (kad::QueryResult::GetProviders(r), Some(Pending::Providers(tx))) => {
                if let Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) = r {
                    found.entry(id).or_default().extend(providers);
                }
                if last {
                    let _ = tx.send(found.remove(&id).unwrap_or_default());
                } else {
                    pending.insert(id, Pending::Providers(tx));
                }
            }
            (_, Some(other)) => {
                pending.insert(id, other);
            }
            (_, None) => {}
        }
    }
}

/// A rust node `l` and a Rhizome node `r` that dialed it, each in the other's table.
async fn pair() -> (lp2p::Peer, (Node, kad::Kademlia)) {
    let l = lp2p::Peer::start().await;
    let r = rhizome_node().await;
    r.0.dial(p2p(&their_addr(&l), ours(&l.id))).await.unwrap();
    let r_id = theirs(&r.0.id());
    eventually("each in the other's table", async || r.1.routing_table().contains(&ours(&l.id)) && l.routing_table().await.contains(&r_id))
        .await;
    (l, r)
}

fn their_addr(l: &lp2p::Peer) -> Multiaddr {
    Multiaddr::try_from(l.addr.to_vec()).unwrap()
}

fn lp2p_addr(node: &Node) -> libp2p::Multiaddr {
    let addr = p2p(&node.listen_addrs()[0], node.id());
    libp2p::Multiaddr::try_from(addr.to_vec()).unwrap()
}

#[tokio::test]
async fn find_node_both_directions() {
    whole(find_node_both_directions_steps()).await
}

async fn find_node_both_directions_steps() {
    let (l, r1) = pair().await;
    let r2 = rhizome_node().await;
    r2.0.dial(p2p(&their_addr(&l), ours(&l.id))).await.unwrap();
    let r2_id = theirs(&r2.0.id());
    eventually("rust learns the second Rhizome node", async || l.routing_table().await.contains(&r2_id)).await;

    // Rhizome → rust: r1 knows only l; l's FIND_NODE answer names r2 with its address.
    assert!(!r1.1.routing_table().contains(&r2.0.id()));
    let addrs = within("rhizome find_node", r1.1.find_node(r2.0.id())).await.unwrap();
    assert!(addrs.contains(&r2.0.listen_addrs()[0]), "{addrs:?}");

    // rust → Rhizome: l2 knows only r1; whatever else it finds came from r1's answer.
    let l2 = lp2p::Peer::start().await;
    l2.dial(lp2p_addr(&r1.0)).await;
    let r1_id = theirs(&r1.0.id());
    eventually("l2 has r1 in its table", async || l2.routing_table().await.contains(&r1_id)).await;
    let closest = within("rust get_closest_peers", l2.closest_peers(r2_id)).await;
    assert!(closest.contains(&l.id), "l2 learned l from r1's FIND_NODE answer: {closest:?}");
    assert!(closest.contains(&r1_id));
    r1.0.shutdown().await;
    r2.0.shutdown().await;
}

#[tokio::test]
async fn put_value_through_one_get_value_through_the_other() {
    whole(put_value_through_one_get_value_through_the_other_steps()).await
}

async fn put_value_through_one_get_value_through_the_other_steps() {
    let (l, r) = pair().await;
    // Rhizome PUT_VALUE → rust stores it.
    let stored = within("rhizome put_value", r.1.put_value(b"/rhizome/from-rhizome".to_vec(), b"v1".to_vec(), kad::Quorum::One)).await;
    assert_eq!(stored.unwrap(), 1);
    // rust PUT_VALUE → Rhizome stores it.
    within("rust put_record", l.put(b"/rhizome/from-rust", b"v2")).await.unwrap();
    eventually("the rust record reached Rhizome", async || r.1.stats().store.records == 2).await;

    // rust GET_VALUE answered by Rhizome: l2 knows only r.
    let l2 = lp2p::Peer::start().await;
    l2.dial(lp2p_addr(&r.0)).await;
    let r_id = theirs(&r.0.id());
    eventually("l2 has r in its table", async || l2.routing_table().await.contains(&r_id)).await;
    let got = within("rust get_record", l2.get(b"/rhizome/from-rust")).await.expect("found");
    assert_eq!(got.1, b"v2");
    assert!(got.0.is_some(), "found remotely");

    // Rhizome GET_VALUE answered by rust: r2 knows only l.
    let r2 = rhizome_node().await;
    r2.0.dial(p2p(&their_addr(&l), ours(&l.id))).await.unwrap();
    eventually("r2 has l in its table", async || r2.1.routing_table().contains(&ours(&l.id))).await;
    assert_eq!(r2.1.stats().store.records, 0);
    let record = within("rhizome get_value", r2.1.get_value(b"/rhizome/from-rhizome".to_vec())).await.unwrap();
    assert_eq!(record.value, b"v1");
    assert_eq!(record.publisher, Some(r.0.id()), "rust keeps the original publisher");
    r.0.shutdown().await;
    r2.0.shutdown().await;
}

#[tokio::test]
async fn add_provider_then_get_providers_both_directions() {
    whole(add_provider_then_get_providers_both_directions_steps()).await
}

async fn add_provider_then_get_providers_both_directions_steps() {
    let (l, r) = pair().await;
    let told = within("rhizome start_providing", r.1.start_providing(b"from-rhizome".to_vec())).await.unwrap();
    assert_eq!(told, 1);
    within("rust start_providing", l.provide(b"from-rust")).await.unwrap();

    // Rhizome GET_PROVIDERS answered by rust: r2 knows only l.
    let r2 = rhizome_node().await;
    r2.0.dial(p2p(&their_addr(&l), ours(&l.id))).await.unwrap();
    eventually("r2 has l in its table", async || r2.1.routing_table().contains(&ours(&l.id))).await;
    eventually("rust stored our provider record", async || {
        r2.1.find_providers(b"from-rhizome".to_vec()).await.unwrap().iter().any(|p| p.id == r.0.id())
    })
    .await;

    // rust GET_PROVIDERS answered by Rhizome: l2 knows only r.
    let l2 = lp2p::Peer::start().await;
    l2.dial(lp2p_addr(&r.0)).await;
    let r_id = theirs(&r.0.id());
    eventually("l2 has r in its table", async || l2.routing_table().await.contains(&r_id)).await;
    let providers = within("rust get_providers", l2.providers(b"from-rust")).await;
    assert!(providers.contains(&l.id), "{providers:?}");
    r.0.shutdown().await;
    r2.0.shutdown().await;
}

/// A js-libp2p (`js/kad-peer.mjs`, @libp2p/kad-dht) or py-libp2p (`py/kad_peer.py`,
/// KadDHT) node in server mode, a child process driven over JSON lines on its stdin
/// and stdout.
mod scripted {
    use std::collections::HashMap;
    use std::process::Stdio;
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
    use tokio::process::{Child, ChildStdin, Command};
    use tokio::sync::oneshot;

    type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

    pub(crate) struct Peer {
        pub(crate) id: rhizome::PeerId,
        pub(crate) addr: rhizome::Multiaddr,
        stdin: tokio::sync::Mutex<ChildStdin>,
        waiters: Waiters,
        next: std::sync::atomic::AtomicU64,
        _child: Child,
    }

    impl Peer {
        /// A js-libp2p node.
        pub(crate) async fn js() -> Peer {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
            assert!(
                dir.join("node_modules/@libp2p/kad-dht").exists(),
                "@libp2p/kad-dht is not installed in {}: run ./scripts/test, which runs `npm ci` there",
                dir.display()
            );
            let mut command = Command::new("node");
            command.arg(dir.join("kad-peer.mjs"));
            Self::start(command).await
        }

        /// A py-libp2p node.
        pub(crate) async fn py() -> Peer {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("py");
            let python = dir.join(".venv/bin/python");
            assert!(python.exists(), "py-libp2p is not installed in {}: run ./scripts/test, which creates the venv there", dir.display());
            let mut command = Command::new(python);
            command.arg(dir.join("kad_peer.py")).current_dir(&dir);
            Self::start(command).await
        }

        async fn start(mut command: Command) -> Peer {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .expect("`node` / `python3` must be installed for the js-libp2p and py-libp2p interop tests");
            let stdin = child.stdin.take().unwrap();
            let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
            let first = tokio::time::timeout(super::STEP, lines.next_line()).await.expect("peer started in time");
            let first: Value = serde_json::from_str(&first.unwrap().expect("peer started")).unwrap();
            assert_eq!(first["event"], "listening", "{first}");
            let waiters: Waiters = Arc::default();
            let w = waiters.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                    let tx = v["id"].as_u64().and_then(|id| w.lock().unwrap().remove(&id));
                    if let Some(tx) = tx {
                        let _ = tx.send(v);
                    }
                }
            });
            Peer {
                id: first["peer_id"].as_str().unwrap().parse().unwrap(),
                addr: first["addr"].as_str().unwrap().parse().unwrap(),
                stdin: tokio::sync::Mutex::new(stdin),
                waiters,
                next: Default::default(),
                _child: child,
            }
        }

        async fn ask(&self, mut cmd: Value) -> Value {
            let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            cmd["id"] = json!(id);
            let (tx, rx) = oneshot::channel();
            self.waiters.lock().unwrap().insert(id, tx);
            let mut line = cmd.to_string();
            line.push('\n');
            self.stdin.lock().await.write_all(line.as_bytes()).await.unwrap();
            let answer = tokio::time::timeout(super::STEP, rx).await.expect("peer answered in time").expect("peer answered");
            assert!(answer.get("error").is_none(), "{cmd}: {answer}");
            answer
        }

        fn peers(v: &Value, field: &str) -> Vec<rhizome::PeerId> {
            v[field].as_array().unwrap().iter().map(|p| p.as_str().unwrap().parse().unwrap()).collect()
        }

        pub(crate) async fn dial(&self, addr: &rhizome::Multiaddr) {
            self.ask(json!({"cmd": "dial", "addr": addr.to_string()})).await;
        }

        pub(crate) async fn routing_table(&self) -> Vec<rhizome::PeerId> {
            Self::peers(&self.ask(json!({"cmd": "table"})).await, "peers")
        }

        pub(crate) async fn closest_peers(&self, target: rhizome::PeerId) -> Vec<rhizome::PeerId> {
            Self::peers(&self.ask(json!({"cmd": "closest", "peer": target.to_string()})).await, "peers")
        }

        pub(crate) async fn put(&self, key: &[u8], value: &[u8]) {
            self.ask(json!({"cmd": "put", "key": hex(key), "value": hex(value)})).await;
        }

        /// The first value a GET_VALUE lookup finds, and who sent it (js only).
        pub(crate) async fn get(&self, key: &[u8]) -> Option<(Option<String>, Vec<u8>)> {
            let v = self.ask(json!({"cmd": "get", "key": hex(key)})).await;
            let value = v["value"].as_str()?;
            Some((v["from"].as_str().map(str::to_owned), unhex(value)))
        }

        pub(crate) async fn provide(&self, multihash: &[u8]) {
            self.ask(json!({"cmd": "provide", "mh": hex(multihash)})).await;
        }

        pub(crate) async fn providers(&self, multihash: &[u8]) -> Vec<rhizome::PeerId> {
            Self::peers(&self.ask(json!({"cmd": "providers", "mh": hex(multihash)})).await, "providers")
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
    }
}

/// A sha2-256 multihash (`12 20 <digest>`), the key js-libp2p provides under.
fn multihash(data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut mh = vec![0x12, 0x20];
    mh.extend_from_slice(&sha2::Sha256::digest(data));
    mh
}

#[derive(Clone, Copy)]
enum Other {
    Js,
    Py,
}

async fn start(other: Other) -> scripted::Peer {
    match other {
        Other::Js => scripted::Peer::js().await,
        Other::Py => scripted::Peer::py().await,
    }
}

/// A js or py node and a Rhizome node that dialed it, each in the other's table.
async fn scripted_pair(other: Other) -> (scripted::Peer, (Node, kad::Kademlia)) {
    let j = start(other).await;
    let r = rhizome_node().await;
    r.0.dial(j.addr.clone()).await.unwrap();
    let r_id = r.0.id();
    if let Other::Py = other {
        // py-libp2p adds peers that dial it only when told (its dial command checks
        // the peer's kad support and adds it).
        j.dial(&p2p(&r.0.listen_addrs()[0], r_id)).await;
    }
    eventually("each in the other's table", async || r.1.routing_table().contains(&j.id) && j.routing_table().await.contains(&r_id)).await;
    (j, r)
}

#[tokio::test]
async fn js_find_node_both_directions() {
    whole(scripted_find_node_both_directions(Other::Js)).await
}

#[tokio::test]
async fn py_find_node_both_directions() {
    whole(scripted_find_node_both_directions(Other::Py)).await
}

async fn scripted_find_node_both_directions(other: Other) {
    {
        let (j, r1) = scripted_pair(other).await;
        let r2 = rhizome_node().await;
        r2.0.dial(j.addr.clone()).await.unwrap();
        let r2_id = r2.0.id();
        if let Other::Py = other {
            j.dial(&p2p(&r2.0.listen_addrs()[0], r2_id)).await;
        }
        eventually("the other learns the second Rhizome node", async || j.routing_table().await.contains(&r2_id)).await;
        // Rhizome → js.
        let addrs = within("rhizome find_node via js", r1.1.find_node(r2_id)).await.unwrap();
        assert!(addrs.contains(&r2.0.listen_addrs()[0]), "{addrs:?}");
        // js → Rhizome: j2 knows only r1.
        let j2 = start(other).await;
        j2.dial(&p2p(&r1.0.listen_addrs()[0], r1.0.id())).await;
        let r1_id = r1.0.id();
        eventually("j2 has r1 in its table", async || j2.routing_table().await.contains(&r1_id)).await;
        let closest = within("js getClosestPeers", j2.closest_peers(r2_id)).await;
        assert!(closest.contains(&j.id) || closest.contains(&r2_id), "j2 learned peers from r1's answer: {closest:?}");
        r1.0.shutdown().await;
        r2.0.shutdown().await;
    }
}

#[tokio::test]
async fn js_put_value_through_one_get_value_through_the_other() {
    whole(scripted_put_value_through_one_get_value_through_the_other(Other::Js)).await
}

#[tokio::test]
async fn py_put_value_through_one_get_value_through_the_other() {
    whole(scripted_put_value_through_one_get_value_through_the_other(Other::Py)).await
}

async fn scripted_put_value_through_one_get_value_through_the_other(other: Other) {
    {
        let (j, r) = scripted_pair(other).await;
        let stored = within("rhizome put_value", r.1.put_value(b"/rhizome/from-rhizome".to_vec(), b"v1".to_vec(), kad::Quorum::One)).await;
        assert_eq!(stored.unwrap(), 1);
        within("js put", j.put(b"/rhizome/from-js", b"v2")).await;
        eventually("the js record reached Rhizome", async || r.1.stats().store.records == 2).await;
        // js GET_VALUE answered by Rhizome.
        let j2 = start(other).await;
        j2.dial(&p2p(&r.0.listen_addrs()[0], r.0.id())).await;
        let r_id = r.0.id();
        eventually("j2 has r in its table", async || j2.routing_table().await.contains(&r_id)).await;
        let (from, value) = within("js get", j2.get(b"/rhizome/from-js")).await.expect("found");
        assert_eq!(value, b"v2");
        assert!(from.is_none_or(|f| f == r_id.to_string()));
        // Rhizome GET_VALUE answered by js.
        let r2 = rhizome_node().await;
        r2.0.dial(j.addr.clone()).await.unwrap();
        eventually("r2 has j in its table", async || r2.1.routing_table().contains(&j.id)).await;
        let record = within("rhizome get_value via js", r2.1.get_value(b"/rhizome/from-rhizome".to_vec())).await.unwrap();
        assert_eq!(record.value, b"v1");
        r.0.shutdown().await;
        r2.0.shutdown().await;
    }
}

#[tokio::test]
async fn js_add_provider_then_get_providers_both_directions() {
    whole(scripted_add_provider_then_get_providers_both_directions(Other::Js)).await
}

#[tokio::test]
async fn py_add_provider_then_get_providers_both_directions() {
    whole(scripted_add_provider_then_get_providers_both_directions(Other::Py)).await
}

async fn scripted_add_provider_then_get_providers_both_directions(other: Other) {
    {
        let (j, r) = scripted_pair(other).await;
        let (ours_key, js_key) = (multihash(b"from rhizome"), multihash(b"from js"));
        assert_eq!(within("rhizome start_providing", r.1.start_providing(ours_key.clone())).await.unwrap(), 1);
        within("js provide", j.provide(&js_key)).await;
        // Rhizome GET_PROVIDERS answered by js.
        let r2 = rhizome_node().await;
        r2.0.dial(j.addr.clone()).await.unwrap();
        eventually("r2 has j in its table", async || r2.1.routing_table().contains(&j.id)).await;
        eventually("js stored our provider record", async || {
            r2.1.find_providers(ours_key.clone()).await.unwrap().iter().any(|p| p.id == r.0.id())
        })
        .await;
        // js GET_PROVIDERS answered by Rhizome.
        let j2 = start(other).await;
        j2.dial(&p2p(&r.0.listen_addrs()[0], r.0.id())).await;
        let r_id = r.0.id();
        eventually("j2 has r in its table", async || j2.routing_table().await.contains(&r_id)).await;
        let providers = within("js findProviders", j2.providers(&js_key)).await;
        assert!(providers.contains(&j.id), "{providers:?}");
        r.0.shutdown().await;
        r2.0.shutdown().await;
    }
}

/// A mixed network — two Rhizome, two rust-libp2p and one js-libp2p node, all
/// joined through one Rhizome node — in which every node writes a record and reads
/// every record written by any other.
#[tokio::test]
async fn mixed_network_every_node_reads_every_record() {
    whole(async {
        let (hub, hub_kad) = rhizome_node().await;
        let hub_addr = p2p(&hub.listen_addrs()[0], hub.id());
        let (r2, r2_kad) = rhizome_node().await;
        r2.dial(hub_addr.clone()).await.unwrap();
        let (l1, l2) = (lp2p::Peer::start().await, lp2p::Peer::start().await);
        for l in [&l1, &l2] {
            l.dial(lp2p_addr(&hub)).await;
        }
        let j = scripted::Peer::js().await;
        j.dial(&hub_addr).await;
        let everyone = [hub.id(), r2.id(), ours(&l1.id), ours(&l2.id), j.id];
        eventually("the hub knows every node", async || everyone[1..].iter().all(|p| hub_kad.routing_table().contains(p))).await;
        eventually("r2 knows the hub", async || r2_kad.routing_table().contains(&hub.id())).await;
        let hub_l = theirs(&hub.id());
        for l in [&l1, &l2] {
            eventually("rust knows the hub", async || l.routing_table().await.contains(&hub_l)).await;
        }
        eventually("js knows the hub", async || j.routing_table().await.contains(&hub.id())).await;

        // Every node writes one record.
        // js-libp2p validates record keys by namespace; its test peer accepts /rhizome/.
        let key = |name: &str| format!("/rhizome/mixed-{name}").into_bytes();
        within("hub put", hub_kad.put_value(key("hub"), b"hub".to_vec(), kad::Quorum::One)).await.unwrap();
        within("r2 put", r2_kad.put_value(key("r2"), b"r2".to_vec(), kad::Quorum::One)).await.unwrap();
        within("l1 put", l1.put(&key("l1"), b"l1")).await.unwrap();
        within("l2 put", l2.put(&key("l2"), b"l2")).await.unwrap();
        within("js put", j.put(&key("js"), b"js")).await;

        // Every node reads every record.
        let names = ["hub", "r2", "l1", "l2", "js"];
        for name in names {
            for (reader, dht) in [("hub", &hub_kad), ("r2", &r2_kad)] {
                let record =
                    within("rhizome get", dht.get_value(key(name))).await.unwrap_or_else(|e| panic!("{reader} cannot read {name}: {e}"));
                assert_eq!(record.value, name.as_bytes(), "{reader} reading {name}");
            }
            for (reader, l) in [("l1", &l1), ("l2", &l2)] {
                let (_, value) = within("rust get", l.get(&key(name))).await.unwrap_or_else(|| panic!("{reader} cannot read {name}"));
                assert_eq!(value, name.as_bytes(), "{reader} reading {name}");
            }
            let (_, value) = within("js get", j.get(&key(name))).await.unwrap_or_else(|| panic!("js cannot read {name}"));
            assert_eq!(value, name.as_bytes(), "js reading {name}");
        }
        hub.shutdown().await;
        r2.shutdown().await;
    })
    .await
}
