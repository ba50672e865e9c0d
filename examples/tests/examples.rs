//! Runs the examples end to end as processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bin args…` and returns it with a receiver of its stdout lines.
fn start(bin: &str, args: &[&str], stdin: Stdio) -> (Kill, mpsc::Receiver<String>) {
    let mut child = Command::new(bin).args(args).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Kill(child), rx)
}

fn line(rx: &mpsc::Receiver<String>, pred: impl Fn(&str) -> bool) -> String {
    loop {
        let l = rx.recv_timeout(Duration::from_secs(20)).expect("expected output line");
        if pred(&l) {
            return l;
        }
    }
}

fn run(bin: &str, args: &[&str]) -> String {
    let mut child = Kill(Command::new(bin).args(args).stdout(Stdio::piped()).spawn().unwrap());
    let mut out = String::new();
    child.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(child.0.wait().unwrap().success(), "{bin} {args:?} failed: {out}");
    out
}

#[test]
fn echo_example_end_to_end() {
    let bin = env!("CARGO_BIN_EXE_echo");
    let (_server, rx) = start(bin, &["serve"], Stdio::null());
    let addr = line(&rx, |l| l.contains("/p2p/"));
    assert_eq!(run(bin, &["send", &addr, "hello rhizome"]).trim(), "hello rhizome");
}

#[test]
fn file_transfer_example_end_to_end() {
    let bin = env!("CARGO_BIN_EXE_file-transfer");
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("payload.bin");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&src, &data).unwrap();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let (_receiver, rx) = start(bin, &["receive", inbox.to_str().unwrap()], Stdio::null());
    let addr = line(&rx, |l| l.contains("/p2p/"));
    let out = run(bin, &["send", &addr, src.to_str().unwrap()]);
    assert!(out.contains("confirmed by the receiver"), "{out}");
    assert_eq!(std::fs::read(inbox.join("payload.bin")).unwrap(), data);
}

#[test]
fn chat_example_end_to_end() {
    let bin = env!("CARGO_BIN_EXE_chat");
    let (mut host, host_rx) = start(bin, &[], Stdio::piped());
    let addr = line(&host_rx, |l| l.starts_with("chat: listening on ")).trim_start_matches("chat: listening on ").to_owned();
    let (mut guest, guest_rx) = start(bin, &[&addr], Stdio::piped());
    line(&guest_rx, |l| l.starts_with("chat: connected"));
    line(&host_rx, |l| l.starts_with("chat: connected"));
    guest.0.stdin.as_mut().unwrap().write_all(b"hi from guest\n").unwrap();
    assert_eq!(line(&host_rx, |l| l.starts_with("peer> ")), "peer> hi from guest");
    host.0.stdin.as_mut().unwrap().write_all(b"hi from host\n").unwrap();
    assert_eq!(line(&guest_rx, |l| l.starts_with("peer> ")), "peer> hi from host");
    drop(guest.0.stdin.take()); // Ctrl-D
    line(&host_rx, |l| l == "chat: peer left");
}

#[test]
fn kad_store_example_end_to_end() {
    let bin = env!("CARGO_BIN_EXE_kad-store");
    let out = run(bin, &["demo"]);
    assert!(out.contains("get: hello, DHT") && out.contains("provider: "), "{out}");
    let (_server, rx) = start(bin, &["serve"], Stdio::null());
    let addr = line(&rx, |l| l.contains("/p2p/"));
    assert!(run(bin, &["put", &addr, "k", "v"]).contains("stored on 1 peers"));
    assert_eq!(run(bin, &["get", &addr, "k"]).trim(), "v");
}

#[test]
fn topic_chat_talks_with_a_node_hyperswarm_peer() {
    let scripts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop-tests/hyperswarm/node_modules/hyperswarm");
    assert!(scripts.is_dir(), "run `npm ci` in interop-tests/hyperswarm");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let testnet = rt.block_on(rhizome::hyperdht::testnet::Testnet::spawn(5)).unwrap();
    let boot = testnet.bootstrap()[0].to_string();
    let topic = format!("rhizome-example-{}", std::process::id());

    let (mut rust, rust_out) = start(env!("CARGO_BIN_EXE_topic-chat"), &[&boot, &topic], Stdio::piped());
    line(&rust_out, |l| l.starts_with("topic-chat: joined"));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topic-chat.mjs");
    let (mut node, node_out) = start("node", &[script.to_str().unwrap(), &boot, &topic], Stdio::piped());
    line(&rust_out, |l| l.starts_with("* ") && l.ends_with(" joined"));
    // Node may see the connection before its own announce is flushed: both lines, any order.
    let (mut joined, mut connected) = (false, false);
    while !(joined && connected) {
        let l = line(&node_out, |_| true);
        joined |= l.starts_with("topic-chat: joined");
        connected |= l.starts_with("* ") && l.ends_with(" joined");
    }
    // A duplicate connection may come and go first: repeat until a line gets through.
    let send = |k: &mut Kill, text: &str| k.0.stdin.as_mut().unwrap().write_all(format!("{text}\n").as_bytes()).unwrap();
    for (from, to, text) in [(&mut rust, &node_out, "hello from rust"), (&mut node, &rust_out, "hello from node")] {
        let mut got = false;
        for _ in 0..10 {
            send(from, text);
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
                match to.recv_timeout(left) {
                    Ok(l) if l.ends_with(&format!("] {text}")) => {
                        got = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            if got {
                break;
            }
        }
        assert!(got, "{text:?} did not arrive");
    }
    drop(testnet);
}
