//! Two network namespaces joined by a veth pair (198.18.0.1 ↔ 198.18.0.2, RFC 2544),
//! faults made with iptables inside them, `fault-peer` processes run with
//! `ip netns exec`. Everything is removed on drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub(crate) const ADDR_A: &str = "198.18.0.1";
pub(crate) const ADDR_B: &str = "198.18.0.2";

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() { Ok(()) } else { Err(format!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())) }
}

fn must(args: &[&str]) {
    if let Err(e) = run(args) {
        panic!("{e}");
    }
}

/// The namespace pair. `a` holds 198.18.0.1, `b` 198.18.0.2.
pub(crate) struct Net {
    pub(crate) a: String,
    pub(crate) b: String,
    children: Vec<Child>,
}

impl Net {
    /// Builds the namespaces, or panics saying what is missing (root / CAP_NET_ADMIN,
    /// iproute2, iptables).
    pub(crate) fn new() -> Net {
        let tag = format!("{}x{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let (a, b) = (format!("rzf{tag}a"), format!("rzf{tag}b"));
        if let Err(e) = run(&["ip", "netns", "add", &a]) {
            panic!(
                "fault tests need network namespaces: run as root (or with CAP_NET_ADMIN + CAP_SYS_ADMIN) with iproute2 installed ({e})"
            );
        }
        let net = Net { a: a.clone(), b: b.clone(), children: Vec::new() };
        must(&["ip", "netns", "add", &b]);
        must(&["ip", "link", "add", "veth0", "netns", &a, "type", "veth", "peer", "name", "veth0", "netns", &b]);
        for (ns, addr) in [(&a, ADDR_A), (&b, ADDR_B)] {
            net.exec_in(ns, &["ip", "addr", "add", &format!("{addr}/24"), "dev", "veth0"]);
            net.exec_in(ns, &["ip", "link", "set", "lo", "up"]);
            net.exec_in(ns, &["ip", "link", "set", "veth0", "up"]);
            if let Err(e) = run(&["ip", "netns", "exec", ns, "iptables", "-L", "INPUT", "-n"]) {
                panic!("fault tests need iptables (apt-get install -y iptables): {e}");
            }
        }
        net
    }

    /// Runs a command inside `ns`, panicking on failure.
    pub(crate) fn exec_in(&self, ns: &str, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", ns];
        full.extend_from_slice(args);
        must(&full);
    }

    /// Drops each packet arriving in either namespace with probability `p`.
    pub(crate) fn loss(&self, p: f64) {
        let p = p.to_string();
        for ns in [&self.a, &self.b] {
            self.exec_in(
                ns,
                &["iptables", "-A", "INPUT", "-i", "veth0", "-m", "statistic", "--mode", "random", "--probability", &p, "-j", "DROP"],
            );
        }
    }

    /// Drops everything arriving over the veth pair (a silent black hole).
    pub(crate) fn partition(&self) {
        for ns in [&self.a, &self.b] {
            self.exec_in(ns, &["iptables", "-I", "INPUT", "-i", "veth0", "-j", "DROP"]);
        }
    }

    /// Ends [`Net::partition`].
    pub(crate) fn heal(&self) {
        for ns in [&self.a, &self.b] {
            self.exec_in(ns, &["iptables", "-D", "INPUT", "-i", "veth0", "-j", "DROP"]);
        }
    }

    /// Starts `fault-peer ARGS` inside `ns`; returns its index and a channel of its
    /// stdout lines.
    pub(crate) fn spawn(&mut self, ns: &str, args: &[&str]) -> (usize, mpsc::Receiver<String>) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_fault-peer")])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning fault-peer");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.children.push(child);
        (self.children.len() - 1, rx)
    }

    /// Writes `line` to the stdin of a process started by [`Net::spawn`].
    pub(crate) fn send_line(&mut self, idx: usize, line: &str) {
        use std::io::Write as _;
        let stdin = self.children[idx].stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "{line}").expect("writing to the child's stdin");
    }

    /// Kills a process started by [`Net::spawn`] (SIGKILL: no goodbye on the wire).
    pub(crate) fn kill(&mut self, idx: usize) {
        let _ = self.children[idx].kill();
        let _ = self.children[idx].wait();
    }

    /// Waits up to `limit` for a process to exit; `None` if it is still running
    /// (a hang: the caller fails the test).
    pub(crate) fn wait(&mut self, idx: usize, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.children[idx].try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting a namespace removes its end of the veth pair, and with it the pair.
        let _ = run(&["ip", "netns", "del", &self.a]);
        let _ = run(&["ip", "netns", "del", &self.b]);
    }
}

/// The one JSON line a sender prints.
pub(crate) fn outcome(rx: &mpsc::Receiver<String>, limit: Duration) -> serde_json::Value {
    let line = rx.recv_timeout(limit).expect("sender printed no result line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad result line {line:?}: {e}"))
}
