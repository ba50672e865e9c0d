//! The CLI contract, end to end: the `rhizome` binary is spawned and its output read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const SEED1: &str = "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5";
const SEED2: &str = "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq";

fn rhizome() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rhizome"))
}

/// Runs to completion (bounded): exit code and stdout JSON lines.
fn run(args: &[&str], limit: Duration) -> (i32, Vec<Value>, String) {
    let child = rhizome().args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = rx.recv_timeout(limit).unwrap_or_else(|_| panic!("rhizome {args:?} did not finish in {limit:?}")).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let lines = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    (out.status.code().unwrap_or(-1), lines, String::from_utf8_lossy(&out.stderr).to_string() + &stdout)
}

struct Listener {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Listener {
    fn start(args: &[&str]) -> Self {
        let mut child = rhizome().arg("listen").args(args).args(["--max-seconds", "60"]).stdout(Stdio::piped()).spawn().unwrap();
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

    fn next(&self, event: &str) -> Value {
        loop {
            let v = self.lines.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| panic!("no {event} line"));
            assert_eq!(v["impl"], "rhizome");
            if v["event"] == event {
                return v;
            }
        }
    }
}

#[test]
fn id_from_seed_is_the_known_peer_id() {
    let out = rhizome().args(["id", "--seed", "1"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), SEED1);
    let (code, lines, _) = run(&["id", "--seed", "1", "--json"], Duration::from_secs(10));
    assert_eq!(code, 0);
    assert_eq!(lines[0]["peer_id"], SEED1);
    assert_eq!(lines[0]["event"], "id");
    assert_eq!(lines[0]["impl"], "rhizome");
}

#[test]
fn keygen_then_id_from_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let p = path.to_str().unwrap();
    let (code, lines, all) = run(&["keygen", "--out", p, "--json"], Duration::from_secs(10));
    assert_eq!(code, 0, "{all}");
    let id = lines[0]["peer_id"].as_str().unwrap().to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let out = rhizome().args(["id", "--key", p]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id);
    // Refuses to overwrite without --force.
    let (code, _, _) = run(&["keygen", "--out", p], Duration::from_secs(10));
    assert_eq!(code, 1);
}

#[test]
fn listen_and_dial_print_the_contract_lines() {
    let listener = Listener::start(&["--seed", "1", "--echo"]);
    let listening = listener.next("listening");
    assert_eq!(listening["peer_id"], SEED1);
    let addr = listening["addr"].as_str().unwrap().to_owned();
    assert!(addr.starts_with("/ip4/127.0.0.1/tcp/") && addr.ends_with(&format!("/p2p/{SEED1}")));

    let (code, lines, all) =
        run(&["dial", &addr, "--seed", "2", "--pings", "3", "--echo", "--perf", "300000", "500000"], Duration::from_secs(40));
    assert_eq!(code, 0, "{all}");
    let names: Vec<&str> = lines.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["connected", "identify", "ping", "ping", "ping", "echo", "perf", "done"]);
    assert!(lines.iter().all(|v| v["impl"] == "rhizome"));
    assert_eq!(lines[0]["peer_id"], SEED1);
    let identify = &lines[1];
    assert_eq!(identify["agent_version"], concat!("rhizome/", env!("CARGO_PKG_VERSION")));
    assert!(identify["protocols"].as_array().unwrap().iter().any(|p| p == "/rhizome-test/echo/1.0.0"));
    assert!(identify["observed_addr"].as_str().unwrap().starts_with("/ip4/127.0.0.1/tcp/"));
    assert!(lines[2]["rtt_ms"].as_f64().unwrap() > 0.0);
    let perf = &lines[6];
    assert_eq!(
        (perf["ok"].as_bool(), perf["upload_bytes"].as_u64(), perf["download_bytes"].as_u64()),
        (Some(true), Some(300_000), Some(500_000))
    );
    assert!(perf["total_seconds"].as_f64().unwrap() > 0.0);
    assert_eq!(lines[7]["ok"], true);

    let conn = listener.next("connection");
    assert_eq!(conn["peer_id"], SEED2);
    let id = listener.next("identify");
    assert_eq!(id["peer_id"], SEED2);
    // The listener's perf server counted the same bytes.
    let served = listener.next("perf_served");
    assert_eq!(
        (&served["peer_id"], served["received_bytes"].as_u64(), served["sent_bytes"].as_u64()),
        (&Value::from(SEED2), Some(300_000), Some(500_000))
    );
}

#[test]
fn dial_failures_exit_1_with_done_false() {
    // Nothing listens on the port (bind one and drop it).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("/ip4/127.0.0.1/tcp/{port}/p2p/{SEED1}");
    let (code, lines, _) = run(&["dial", &addr, "--timeout", "10"], Duration::from_secs(30));
    assert_eq!(code, 1);
    assert_eq!(lines.last().unwrap()["event"], "done");
    assert_eq!(lines.last().unwrap()["ok"], false);

    // Wrong peer id: a typed error naming both ids.
    let listener = Listener::start(&["--seed", "1"]);
    let addr = listener.next("listening")["addr"].as_str().unwrap().replace(SEED1, SEED2);
    let (code, lines, _) = run(&["dial", &addr, "--timeout", "10"], Duration::from_secs(30));
    assert_eq!(code, 1);
    let error = lines.last().unwrap()["error"].as_str().unwrap().to_owned();
    assert!(error.contains(&format!("remote peer is {SEED1}, expected {SEED2}")), "{error}");
}

#[test]
fn bad_arguments_exit_2() {
    for args in [&["dial", "not-a-multiaddr"][..], &["id", "--seed", "256"], &["listen", "--listen", "/nope"], &["frobnicate"]] {
        let (code, _, _) = run(args, Duration::from_secs(10));
        assert_eq!(code, 2, "{args:?}");
    }
}

#[test]
fn listen_stops_on_sigterm() {
    let mut listener = Listener::start(&["--seed", "3"]);
    listener.next("listening");
    let pid = listener.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (tx, rx) = mpsc::channel();
    let mut child = std::mem::replace(&mut listener.child, rhizome().arg("--version").stdout(Stdio::null()).spawn().unwrap());
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = rx.recv_timeout(Duration::from_secs(10)).expect("listen did not stop on SIGTERM").unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn demo_walks_through_every_step() {
    let (code, lines, all) = run(&["demo", "--json"], Duration::from_secs(60));
    assert_eq!(code, 0, "{all}");
    let steps: Vec<&Value> = lines.iter().filter(|v| v["event"] == "step").collect();
    assert_eq!(steps.len(), 9, "{all}");
    assert!(
        lines.iter().any(|v| v["remote_public_key"].is_string() && v["reply"].as_str().is_some_and(|r| r.starts_with("hello "))),
        "the Hyperswarm step greeted carol: {all}"
    );
    assert!(lines.iter().any(|v| v["reply"].as_str().is_some_and(|r| r.ends_with("I am bob"))));
    assert!(lines.iter().any(|v| v["value"] == "hello from alice"), "the Kademlia step read alice's record: {all}");
}

/// `GET /metrics` with std only (bounded by socket timeouts).
fn scrape(addr: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn sample(text: &str, prefix: &str) -> f64 {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[test]
fn listen_metrics_move_with_connections_and_streams() {
    let listener = Listener::start(&["--seed", "1", "--metrics", "127.0.0.1:0"]);
    let metrics = listener.next("metrics")["addr"].as_str().unwrap().to_owned();
    let addr = listener.next("listening")["addr"].as_str().unwrap().to_owned();
    let before = scrape(&metrics);
    assert!(before.starts_with("HTTP/1.1 200 OK"), "{before}");
    let opened = r#"rhizome_connections_opened_total{direction="inbound",transport="tcp"}"#;
    let closed = r#"rhizome_connections_closed_total{direction="inbound",transport="tcp"}"#;
    let pings = r#"rhizome_streams_opened_total{protocol="/ipfs/ping/1.0.0",direction="inbound"}"#;
    assert_eq!(sample(&before, opened), 0.0);
    for round in 1..=2 {
        let (code, _, out) = run(&["dial", &addr, "--seed", "2", "--pings", "3"], Duration::from_secs(30));
        assert_eq!(code, 0, "{out}");
        // The dialer has gone: its connection closes on the listener within a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let text = loop {
            let text = scrape(&metrics);
            if sample(&text, closed) >= round as f64 || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(sample(&text, opened), round as f64, "{text}");
        assert_eq!(sample(&text, closed), round as f64, "{text}");
        assert_eq!(sample(&text, pings), round as f64, "one ping stream per dial: {text}");
        assert!(sample(&text, "rhizome_transport_received_bytes_total") > 0.0);
    }
}

#[test]
fn dial_runs_kad_steps_in_order_through_a_listener() {
    let listener = Listener::start(&["--seed", "1"]);
    let addr = listener.next("listening")["addr"].as_str().unwrap().to_owned();
    let (code, lines, out) = run(
        &[
            "dial",
            &addr,
            "--seed",
            "2",
            "--pings",
            "0",
            "--kad-put",
            "k1",
            "v1",
            "--kad-get",
            "k1",
            "--kad-put",
            "/pk/self",
            "-",
            "--kad-find-node",
            SEED1,
        ],
        Duration::from_secs(30),
    );
    assert_eq!(code, 0, "{out}");
    let kad: Vec<&Value> = lines.iter().filter(|l| l["event"].as_str().is_some_and(|e| e.starts_with("kad_"))).collect();
    let events: Vec<&str> = kad.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["kad_put", "kad_get", "kad_put", "kad_find_node"], "{out}");
    assert_eq!(kad[1]["value"], "v1");
    assert_eq!(kad[1]["value_hex"], "7631");
    assert_eq!(kad[3]["peers"][0]["peer_id"], SEED1);
    // A second dialer reads both records from the listener (/pk/self is the second dialer's own key).
    let (code, lines, out) = run(&["dial", &addr, "--seed", "3", "--pings", "0", "--kad-get", "k1"], Duration::from_secs(30));
    assert_eq!(code, 0, "{out}");
    assert!(lines.iter().any(|l| l["event"] == "kad_get" && l["found"] == true && l["value"] == "v1"), "{out}");
    // A missing key: exit 1, found false.
    let (code, lines, _) = run(&["dial", &addr, "--seed", "3", "--pings", "0", "--kad-get", "missing"], Duration::from_secs(30));
    assert_eq!(code, 1);
    assert!(lines.iter().any(|l| l["event"] == "kad_get" && l["found"] == false));
}

#[test]
fn listen_autonat_prints_nat_status() {
    // A serves AutoNAT; B connects to A, probes through it, and is reachable.
    let a = Listener::start(&["--seed", "1", "--autonat"]);
    let a_addr = a.next("listening")["addr"].as_str().unwrap().to_owned();
    let b = Listener::start(&["--seed", "2", "--autonat", "--bootstrap", &a_addr]);
    let b_listen = b.next("listening")["addr"].as_str().unwrap().to_owned();
    let status = b.next("nat_status");
    assert_eq!(status["status"], "public", "{status}");
    assert_eq!(status["old"], "unknown");
    let public = status["addr"].as_str().unwrap();
    assert_eq!(format!("{public}/p2p/{SEED2}"), b_listen, "A dialed B back at its listen address");
    assert_eq!(status["confidence"], 0);
}
