//! `rhizome swarm` end to end against Node.js hyperswarm 4.17 (interop-tests/hyperswarm,
//! `npm ci` first) on hyperdht testnets of 5 nodes on 127.0.0.1, and on `rhizome swarm testnet`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

const LIMIT: Duration = Duration::from_secs(60);
const SEED1_PK: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";

fn script_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    assert!(dir.join("node_modules/hyperswarm").is_dir(), "run `npm ci` in {}", dir.display());
    dir
}

/// A running process whose stdout JSON lines are read by a thread. Killed on drop.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Self { child, lines }
    }

    fn node(opts: Value) -> Self {
        let mut cmd = Command::new("node");
        cmd.arg("swarm-peer.mjs").arg(opts.to_string()).current_dir(script_dir());
        Self::spawn(cmd)
    }

    fn rhizome(args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rhizome"));
        cmd.args(args);
        Self::spawn(cmd)
    }

    /// The next line with this event (bounded).
    fn next(&self, event: &str) -> Value {
        loop {
            let v = self.lines.recv_timeout(LIMIT).unwrap_or_else(|_| panic!("no {event:?} line"));
            assert!(v["event"] != "error", "failed: {v}");
            if v["event"] == event {
                return v;
            }
        }
    }

    /// Waits for the exit (bounded); the exit code and every remaining line.
    fn finish(mut self) -> (i32, Vec<Value>) {
        let mut lines = Vec::new();
        while let Ok(v) = self.lines.recv_timeout(LIMIT) {
            lines.push(v);
        }
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        (code, lines)
    }
}

fn node_testnet() -> (Proc, u16) {
    let tn = Proc::node(json!({ "role": "testnet" }));
    let port = tn.next("testnet")["bootstrap"][0].as_u64().unwrap() as u16;
    (tn, port)
}

fn event<'a>(lines: &'a [Value], name: &str) -> &'a Value {
    lines.iter().find(|l| l["event"] == name).unwrap_or_else(|| panic!("no {name:?} in {lines:?}"))
}

#[test]
fn swarm_join_echoes_and_runs_perf_against_a_node_server() {
    let (_tn, port) = node_testnet();
    let topic = "a7".repeat(32);
    let server = Proc::node(json!({ "role": "serve", "bootstrap": [port], "topic": topic, "mode": "echo" }));
    let pk = server.next("listening")["public_key"].clone();
    let boot = format!("127.0.0.1:{port}");

    let (code, lines) =
        Proc::rhizome(&["swarm", "join", "--bootstrap", &boot, "--topic", &topic, "--send", "hello", "--timeout", "30"]).finish();
    assert_eq!(code, 0, "{lines:?}");
    assert!(lines.iter().all(|l| l["impl"] == "rhizome" && l["event"].is_string()));
    let connected = event(&lines, "connected");
    assert_eq!(connected["remote_public_key"], pk);
    assert!(connected["connect_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(event(&lines, "echo")["ok"], true);
    assert_eq!(event(&lines, "done")["ok"], true);

    let mib = (1 << 20).to_string();
    let args = ["swarm", "join", "--bootstrap", &boot, "--topic", &topic, "--perf", &mib, &mib, "--seed", "3"];
    let (code, lines) = Proc::rhizome(&args).finish();
    assert_eq!(code, 0, "{lines:?}");
    let perf = event(&lines, "perf");
    assert_eq!(perf["ok"], true);
    assert_eq!(perf["upload_bytes"], 1 << 20);
    assert_eq!(perf["download_bytes"], 1 << 20);
    assert!(perf["seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(event(&lines, "done")["ok"], true);
}

#[test]
fn swarm_join_takes_the_next_connection_when_one_drops() {
    let (_tn, port) = node_testnet();
    let topic = "d7".repeat(32);
    let server = Proc::node(json!({ "role": "serve", "bootstrap": [port], "topic": topic, "mode": "echo", "dropFirst": 1 }));
    server.next("listening");
    let boot = format!("127.0.0.1:{port}");
    let (code, lines) =
        Proc::rhizome(&["swarm", "join", "--bootstrap", &boot, "--topic", &topic, "--send", "again", "--timeout", "30"]).finish();
    assert_eq!(code, 0, "{lines:?}");
    // The first connection is destroyed by the server, while it opens (then the swarm
    // retries after its backoff) or after (then join prints `dropped` and takes the next).
    let names: Vec<&str> = lines.iter().filter_map(|l| l["event"].as_str()).collect();
    assert!(names.ends_with(&["connected", "echo", "done"]), "{lines:?}");
    assert_eq!(event(&lines, "echo")["ok"], true);
    server.next("connection");
    server.next("connection");
}

#[test]
fn swarm_serve_echoes_to_a_node_client() {
    let (_tn, port) = node_testnet();
    let topic = "b7".repeat(32);
    let boot = format!("127.0.0.1:{port}");
    let server =
        Proc::rhizome(&["swarm", "serve", "--bootstrap", &boot, "--topic", &topic, "--seed", "1", "--echo", "--max-seconds", "60"]);
    assert_eq!(server.next("listening")["public_key"], SEED1_PK, "seed 1 is sodium's seed keypair");
    let client = Proc::node(json!({ "role": "join", "bootstrap": [port], "topic": topic, "mode": "echo", "bytes": 1 << 20 }));
    let (code, lines) = client.finish();
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(event(&lines, "connected")["remote_public_key"], SEED1_PK);
    let echo = event(&lines, "echo");
    assert_eq!(echo["ok"], true);
    assert_eq!(echo["sent"], echo["received"]);
    assert!(server.next("connection")["remote_public_key"].is_string());
}

#[test]
fn swarm_testnet_carries_node_peers_and_records() {
    let tn = Proc::rhizome(&["swarm", "testnet", "--nodes", "5"]);
    let hello = tn.next("testnet");
    let boot = hello["bootstrap"][0].as_str().unwrap().to_string();
    let port: u16 = boot.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(hello["nodes"].as_array().unwrap().len(), 5);

    // Two Node peers find each other over Rhizome DHT nodes.
    let topic = "c7".repeat(32);
    let server = Proc::node(json!({ "role": "serve", "bootstrap": [port], "topic": topic, "mode": "echo" }));
    server.next("listening");
    let (code, lines) = Proc::node(json!({ "role": "join", "bootstrap": [port], "topic": topic, "mode": "echo", "bytes": 4096 })).finish();
    assert_eq!(code, 0, "{lines:?}");

    // Records: mutable (signed by seed 5) and immutable.
    let (code, lines) = Proc::rhizome(&["swarm", "put", "--bootstrap", &boot, "--seed", "5", "--seq", "2", "mutable hello"]).finish();
    assert_eq!(code, 0, "{lines:?}");
    let pk = event(&lines, "put")["public_key"].as_str().unwrap().to_string();
    let (code, lines) = Proc::rhizome(&["swarm", "get", "--bootstrap", &boot, "--public-key", &pk]).finish();
    assert_eq!(code, 0, "{lines:?}");
    let got = event(&lines, "get");
    assert_eq!((got["found"].clone(), got["seq"].clone(), got["value"].clone()), (json!(true), json!(2), json!("mutable hello")));

    let (code, lines) = Proc::rhizome(&["swarm", "put", "--bootstrap", &boot, "--immutable", "immutable hello"]).finish();
    assert_eq!(code, 0, "{lines:?}");
    let hash = event(&lines, "put")["hash"].as_str().unwrap().to_string();
    let (code, lines) = Proc::rhizome(&["swarm", "get", "--bootstrap", &boot, "--hash", &hash]).finish();
    assert_eq!(code, 0, "{lines:?}");
    assert_eq!(event(&lines, "get")["value"], "immutable hello");
    let (code, lines) = Proc::rhizome(&["swarm", "get", "--bootstrap", &boot, "--hash", &"00".repeat(32)]).finish();
    assert_eq!(code, 1, "absent: {lines:?}");
    assert_eq!(event(&lines, "get")["found"], false);
}

#[test]
fn swarm_bad_arguments_exit_2() {
    for args in [
        &["swarm", "join", "--bootstrap", "127.0.0.1:1", "--topic", "zz"][..],
        &["swarm", "join", "--bootstrap", "nohost", "--topic", &"00".repeat(32)],
        &["swarm", "serve", "--topic", &"00".repeat(32)],
        &["swarm", "join", "--bootstrap", "127.0.0.1:1", "--topic", &"00".repeat(32), "--seed", "256"],
        &["swarm", "testnet", "--nodes", "0"],
    ] {
        let (code, _) = Proc::rhizome(args).finish();
        assert_eq!(code, 2, "{args:?}");
    }
}
