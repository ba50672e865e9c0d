//! Spawns interop peers (any implementation of `interop-tests/PEERS.md`) and reads
//! their JSON lines.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The implementations under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Rhizome,
    RustLibp2p,
    Js,
    Py,
}

impl Impl {
    pub fn name(self) -> &'static str {
        match self {
            Impl::Rhizome => "rhizome",
            Impl::RustLibp2p => "rust-libp2p",
            Impl::Js => "js-libp2p",
            Impl::Py => "py-libp2p",
        }
    }

    /// What its identify `agentVersion` starts with.
    pub fn agent_prefix(self) -> &'static str {
        match self {
            Impl::Rhizome => "rhizome/",
            Impl::RustLibp2p => "rust-libp2p/",
            Impl::Js => "js-libp2p/",
            Impl::Py => "py-libp2p/",
        }
    }

    fn command(self) -> Command {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        match self {
            Impl::Rhizome => Command::new(env!("CARGO_BIN_EXE_rhizome_peer")),
            Impl::RustLibp2p => Command::new(env!("CARGO_BIN_EXE_libp2p_peer")),
            Impl::Js => {
                let modules = dir.join("js/node_modules/libp2p");
                assert!(
                    modules.exists(),
                    "js-libp2p is not installed in {}: run ./scripts/test, which runs `npm ci` there",
                    modules.display()
                );
                let mut c = Command::new("node");
                c.arg(dir.join("js/peer.mjs"));
                c
            }
            Impl::Py => {
                let python: PathBuf = dir.join("py/.venv/bin/python");
                assert!(
                    python.exists(),
                    "py-libp2p is not installed ({} missing): run ./scripts/test, which creates the venv",
                    python.display()
                );
                let mut c = Command::new(python);
                c.arg(dir.join("py/peer.py"));
                c
            }
        }
    }
}

/// The identity key type of a peer (`--key-type`; only the rust-libp2p peer takes
/// anything but Ed25519).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Ed25519,
    Secp256k1,
    Ecdsa,
    Rsa,
}

impl Key {
    fn arg(self) -> &'static str {
        match self {
            Key::Ed25519 => "ed25519",
            Key::Secp256k1 => "secp256k1",
            Key::Ecdsa => "ecdsa",
            Key::Rsa => "rsa",
        }
    }

    /// The peer id of `--key-type <self> --seed n`, computed by rhizome-identity (not by
    /// the peer under test): the secret key is 32 bytes all equal to n, except for RSA,
    /// which is always the committed fixture (`interop-tests/fixtures/rsa-2048.pk8`,
    /// generated once with `openssl genpkey`).
    pub fn peer_id(self, n: u8) -> String {
        use rhizome::KeypairExt as _;
        use rhizome::identity::{Keypair, ecdsa, secp256k1};
        let key = match self {
            Key::Ed25519 => Keypair::from_seed([n; 32]),
            Key::Secp256k1 => secp256k1::Keypair::from(secp256k1::SecretKey::try_from_bytes([n; 32]).unwrap()).into(),
            Key::Ecdsa => ecdsa::Keypair::from(ecdsa::SecretKey::try_from_bytes([n; 32]).unwrap()).into(),
            Key::Rsa => Keypair::rsa_from_pkcs8(&mut include_bytes!("../../fixtures/rsa-2048.pk8").to_vec()).unwrap(),
        };
        key.peer_id().to_string()
    }

    /// The extra arguments for `imp`.
    fn args(self, imp: Impl) -> Vec<String> {
        if self == Key::Ed25519 {
            return Vec::new();
        }
        assert_eq!(imp, Impl::RustLibp2p, "only the rust-libp2p peer has --key-type");
        vec!["--key-type".to_owned(), self.arg().to_owned()]
    }
}

/// A running peer process. Killed when dropped.
pub struct Proc {
    pub who: String,
    child: Child,
    events: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

const STDERR_TAIL: usize = 40;

impl Proc {
    fn spawn(imp: Impl, args: &[String]) -> Self {
        let mut cmd = imp.command();
        cmd.args(args)
            .stdin(Stdio::piped()) // kept open: the foreign listeners exit when stdin closes
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {} peer: {e}", imp.name()));
        let (tx, events) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail2 = tail.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    Err(_) => eprintln!("non-JSON stdout line: {line}"),
                }
            }
        });
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut t = tail2.lock().expect("lock");
                if t.len() == STDERR_TAIL {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        Self { who: format!("{} {}", imp.name(), args.first().cloned().unwrap_or_default()), child, events, seen: Vec::new(), stderr: tail }
    }

    fn diagnostics(&self) -> String {
        let tail: Vec<String> = self.stderr.lock().expect("lock").iter().cloned().collect();
        format!("{}: events so far:\n{:#?}\nstderr tail:\n{}", self.who, self.seen, tail.join("\n"))
    }

    /// The next event named `name` matching `pred` (other events are kept in `seen`).
    pub async fn wait_for(&mut self, name: &str, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if v["event"] == name && pred(&v) {
                        return v;
                    }
                }
                Ok(None) => panic!("{} exited before printing {name}\n{}", self.who, self.diagnostics()),
                Err(_) => panic!("timed out waiting for {name}\n{}", self.diagnostics()),
            }
        }
    }

    /// Waits for the process to exit; returns its exit code and every event printed.
    pub async fn finish(mut self, limit: Duration) -> (i32, Vec<Value>) {
        let status = match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(s) => s.expect("wait"),
            Err(_) => panic!("{} did not exit in {limit:?}\n{}", self.who, self.diagnostics()),
        };
        // Drain what is left on stdout.
        while let Ok(Some(v)) = tokio::time::timeout(Duration::from_millis(500), self.events.recv()).await {
            self.seen.push(v);
        }
        let code = status.code().unwrap_or(-1);
        if code != 0 {
            eprintln!("{}", self.diagnostics());
        }
        (code, std::mem::take(&mut self.seen))
    }
}

/// A listening peer.
pub struct Listener {
    pub proc: Proc,
    pub addr: String,
    pub peer_id: String,
}

pub async fn listen(imp: Impl, seed: u8) -> Listener {
    listen_with_key(imp, seed, Key::Ed25519).await
}

pub async fn listen_with_key(imp: Impl, seed: u8, key: Key) -> Listener {
    let mut args = vec!["listen".to_owned(), "--seed".to_owned(), seed.to_string(), "--max-seconds".to_owned(), "90".to_owned()];
    args.extend(key.args(imp));
    if imp == Impl::Rhizome {
        args.push("--echo".to_owned());
    }
    let mut proc = Proc::spawn(imp, &args);
    let ev = proc.wait_for("listening", Duration::from_secs(30), |_| true).await;
    assert_eq!(ev["impl"], imp.name());
    let addr = ev["addr"].as_str().expect("addr").to_owned();
    let peer_id = ev["peer_id"].as_str().expect("peer_id").to_owned();
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/") && addr.ends_with(&format!("/p2p/{peer_id}")), "{addr}");
    Listener { proc, addr, peer_id }
}

/// Runs a dialer to completion: `dial addr --seed N --pings P --echo`.
pub async fn dial(imp: Impl, addr: &str, seed: u8, pings: u32) -> (i32, Vec<Value>) {
    dial_with_key(imp, addr, seed, pings, Key::Ed25519).await
}

pub async fn dial_with_key(imp: Impl, addr: &str, seed: u8, pings: u32, key: Key) -> (i32, Vec<Value>) {
    let mut args: Vec<String> = ["dial", addr, "--seed", &seed.to_string(), "--pings", &pings.to_string(), "--echo", "--timeout", "40"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(key.args(imp));
    Proc::spawn(imp, &args).finish(Duration::from_secs(60)).await
}

/// Runs a dialer to completion with perf last:
/// `dial addr --seed N --pings 1 --perf UP DOWN --timeout 60`.
pub async fn dial_perf(imp: Impl, addr: &str, seed: u8, upload: u64, download: u64) -> (i32, Vec<Value>) {
    let seed = seed.to_string();
    let (up, down) = (upload.to_string(), download.to_string());
    let args: Vec<String> =
        ["dial", addr, "--seed", &seed, "--pings", "1", "--perf", &up, &down, "--timeout", "60"].iter().map(|s| s.to_string()).collect();
    Proc::spawn(imp, &args).finish(Duration::from_secs(80)).await
}

/// The peer id of `--seed n` (an Ed25519 key).
pub fn peer_id_of_seed(n: u8) -> String {
    Key::Ed25519.peer_id(n)
}

pub fn events<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["event"] == name).collect()
}

pub fn one<'a>(all: &'a [Value], name: &str) -> &'a Value {
    let found = events(all, name);
    assert_eq!(found.len(), 1, "expected exactly one {name} event in {all:#?}");
    found[0]
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}
