//! The NAT lab: a "public" namespace whose bridge holds exactly one address (198.18.0.1,
//! where the DHT bootstrap nodes run), and home namespaces (198.19.N.2) each behind its own
//! router namespace (WAN 198.18.0.(10+N)) doing NAT with iptables MASQUERADE. Addresses are
//! all in 198.18.0.0/15 (RFC 2544). Every router drops unsolicited inbound packets in the
//! mangle table (`--ctstate NEW`), before conntrack confirms an entry for them, as home
//! routers do. Processes run inside the namespaces with `ip netns exec`; everything is
//! killed and removed on drop.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The public namespace's one address.
pub(crate) const PUBLIC: &str = "198.18.0.1";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// How a router maps ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NatKind {
    /// Plain MASQUERADE: keeps the source port when free, one mapping for every destination.
    Consistent,
    /// `MASQUERADE --random-fully`: a fresh random port per destination (symmetric NAT).
    Random,
}

fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("`{}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = run(args) {
        panic!("{e}");
    }
}

/// `true` (and a message on stderr) when the lab cannot be built: not root.
pub(crate) fn skip() -> bool {
    let root = run(&["id", "-u"]).map(|s| s.trim() == "0").unwrap_or(false);
    if !root {
        eprintln!("SKIPPED: the NAT lab needs root (network namespaces, iptables); run the test as root");
    }
    !root
}

/// The Node peers' directory (node_modules installed by scripts/test).
pub(crate) fn node_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop-tests/hyperswarm");
    assert!(
        dir.join("node_modules/hyperdht").exists(),
        "run `npm ci` in interop-tests/hyperswarm (scripts/test does) before the NAT lab tests"
    );
    dir
}

/// A process started in the lab: its stdout lines arrive on `lines`.
pub(crate) struct Proc {
    pub(crate) lines: mpsc::Receiver<String>,
    stdin: Option<ChildStdin>,
}

impl Proc {
    /// The next stdout line that parses as JSON, within `limit`.
    pub(crate) fn json(&self, limit: Duration) -> serde_json::Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no JSON line within {limit:?}"));
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                return v;
            }
            eprintln!("(non-JSON line) {line}");
        }
    }

    /// Writes one line to the process's stdin.
    pub(crate) fn send(&mut self, line: &str) {
        let s = self.stdin.as_mut().expect("stdin");
        writeln!(s, "{line}").expect("write stdin");
    }
}

/// The lab.
pub(crate) struct Lab {
    tag: String,
    pub(crate) public: String,
    homes: Vec<(String, String)>,
    children: Vec<Child>,
    /// Whether the WAN links got their netem delay.
    pub(crate) delayed: bool,
}

impl Lab {
    /// Builds the public namespace and one home per entry of `nats`; `delay_ms` of
    /// `tc netem` delay on each router's WAN link (0 = none).
    pub(crate) fn new(nats: &[NatKind], delay_ms: u32) -> Lab {
        let tag = format!("rzn{}x{}", std::process::id() % 100_000, NEXT.fetch_add(1, Ordering::Relaxed));
        let public = format!("{tag}p");
        if let Err(e) = run(&["ip", "netns", "add", &public]) {
            panic!("the NAT lab needs network namespaces (root, iproute2): {e}");
        }
        let mut lab = Lab { tag: tag.clone(), public: public.clone(), homes: Vec::new(), children: Vec::new(), delayed: false };
        let p = public.as_str();
        must(&["ip", "-n", p, "link", "add", "br0", "type", "bridge"]);
        must(&["ip", "-n", p, "addr", "add", &format!("{PUBLIC}/24"), "dev", "br0"]);
        must(&["ip", "-n", p, "link", "set", "br0", "up"]);
        must(&["ip", "-n", p, "link", "set", "lo", "up"]);
        for (i, kind) in nats.iter().enumerate() {
            let n = i + 1;
            let (r, h) = (format!("{tag}r{n}"), format!("{tag}h{n}"));
            must(&["ip", "netns", "add", &r]);
            lab.homes.push((r.clone(), String::new()));
            must(&["ip", "netns", "add", &h]);
            lab.homes.last_mut().expect("just pushed").1 = h.clone();
            let w = format!("w{n}");
            must(&["ip", "link", "add", "wan", "netns", &r, "type", "veth", "peer", "name", &w, "netns", p]);
            must(&["ip", "-n", p, "link", "set", &w, "master", "br0"]);
            must(&["ip", "-n", p, "link", "set", &w, "up"]);
            must(&["ip", "link", "add", "lan", "netns", &r, "type", "veth", "peer", "name", "eth0", "netns", &h]);
            must(&["ip", "-n", &r, "addr", "add", &format!("198.18.0.{}/24", 10 + n), "dev", "wan"]);
            must(&["ip", "-n", &r, "addr", "add", &format!("198.19.{n}.1/24"), "dev", "lan"]);
            must(&["ip", "-n", &h, "addr", "add", &format!("198.19.{n}.2/24"), "dev", "eth0"]);
            for d in ["wan", "lan", "lo"] {
                must(&["ip", "-n", &r, "link", "set", d, "up"]);
            }
            must(&["ip", "-n", &h, "link", "set", "eth0", "up"]);
            must(&["ip", "-n", &h, "link", "set", "lo", "up"]);
            must(&["ip", "-n", &h, "route", "add", "default", "via", &format!("198.19.{n}.1")]);
            must(&["ip", "netns", "exec", &r, "sysctl", "-qw", "net.ipv4.ip_forward=1"]);
            let mut masq = vec!["ip", "netns", "exec", &r, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"];
            if *kind == NatKind::Random {
                masq.push("--random-fully");
            }
            if let Err(e) = run(&masq) {
                panic!("the NAT lab needs iptables (apt-get install -y iptables): {e}");
            }
            must(&[
                "ip",
                "netns",
                "exec",
                &r,
                "iptables",
                "-t",
                "mangle",
                "-A",
                "PREROUTING",
                "-i",
                "wan",
                "-m",
                "conntrack",
                "--ctstate",
                "NEW",
                "-j",
                "DROP",
            ]);
            if delay_ms > 0 {
                let delay = format!("{delay_ms}ms");
                match run(&["ip", "netns", "exec", &r, "tc", "qdisc", "add", "dev", "wan", "root", "netem", "delay", &delay]) {
                    Ok(_) => lab.delayed = true,
                    // some kernels ship without sch_netem
                    Err(e) => eprintln!("NOTE: no netem delay in this kernel ({e})"),
                }
            }
        }
        lab
    }

    /// Home namespace `i` (0-based).
    pub(crate) fn home(&self, i: usize) -> &str {
        &self.homes[i].1
    }

    /// Router namespace `i` (0-based).
    pub(crate) fn router(&self, i: usize) -> &str {
        &self.homes[i].0
    }

    /// Router `i`'s public (WAN) address.
    pub(crate) fn wan(i: usize) -> String {
        format!("198.18.0.{}", 11 + i)
    }

    /// Starts `program args…` inside `ns` with piped stdin/stdout; stderr is inherited
    /// (shows in the test's output).
    pub(crate) fn spawn(&mut self, ns: &str, program: &str, args: &[&str], cwd: Option<&PathBuf>) -> Proc {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]).args(args).stdin(Stdio::piped()).stdout(Stdio::piped());
        if let Some(d) = cwd {
            cmd.current_dir(d);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {program} in {ns}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.children.push(child);
        Proc { lines: rx, stdin }
    }

    /// A Node `nat-peer.mjs MODE args…` inside `ns`.
    pub(crate) fn node(&mut self, ns: &str, args: &[&str]) -> Proc {
        let dir = node_dir();
        let mut full = vec!["nat-peer.mjs"];
        full.extend_from_slice(args);
        self.spawn(ns, "node", &full, Some(&dir))
    }

    /// The Node testnet (5 nodes) in the public namespace; returns it and its bootstrap
    /// `HOST:PORT`.
    pub(crate) fn node_testnet(&mut self) -> (Proc, String) {
        let p = self.public.clone();
        let tn = self.node(&p, &["testnet", PUBLIC]);
        let v = tn.json(Duration::from_secs(30));
        let boot = v["bootstrap"].as_str().unwrap_or_else(|| panic!("testnet line {v}")).to_string();
        (tn, boot)
    }

    /// A Rust testnet (`program args…`, e.g. `fault-peer hdht-testnet 198.18.0.1`) in the
    /// public namespace; its first line carries `bootstrap` ("HOST:PORT" or a list of them).
    pub(crate) fn rust_testnet(&mut self, program: &str, args: &[&str]) -> (Proc, String) {
        let p = self.public.clone();
        let tn = self.spawn(&p, program, args, None);
        let v = tn.json(Duration::from_secs(30));
        let b = &v["bootstrap"];
        let boot = b.as_str().or_else(|| b[0].as_str()).unwrap_or_else(|| panic!("testnet line {v}")).to_string();
        (tn, boot)
    }

    /// Packets the router `i` dropped as unsolicited (the mangle rule's counter).
    pub(crate) fn dropped_unsolicited(&self, i: usize) -> u64 {
        let out = run(&["ip", "netns", "exec", self.router(i), "iptables", "-t", "mangle", "-L", "PREROUTING", "-nvx"]).unwrap_or_default();
        out.lines().find(|l| l.contains("DROP")).and_then(|l| l.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    }

    /// A second home behind router `i` (0-based), on its own LAN 198.19.(101+i).2/24 (the
    /// router routes between its LANs without NAT, and does not hairpin): the two homes
    /// share one public host. Returns the new namespace.
    pub(crate) fn add_neighbour(&mut self, i: usize) -> String {
        let n = i + 1;
        let r = self.router(i).to_string();
        let h = format!("{}h{n}b", self.tag);
        must(&["ip", "netns", "add", &h]);
        self.homes.push((String::new(), h.clone()));
        must(&["ip", "link", "add", "lan2", "netns", &r, "type", "veth", "peer", "name", "eth0", "netns", &h]);
        must(&["ip", "-n", &r, "addr", "add", &format!("198.19.{}.1/24", 100 + n), "dev", "lan2"]);
        must(&["ip", "-n", &h, "addr", "add", &format!("198.19.{}.2/24", 100 + n), "dev", "eth0"]);
        must(&["ip", "-n", &r, "link", "set", "lan2", "up"]);
        must(&["ip", "-n", &h, "link", "set", "eth0", "up"]);
        must(&["ip", "-n", &h, "link", "set", "lo", "up"]);
        must(&["ip", "-n", &h, "route", "add", "default", "via", &format!("198.19.{}.1", 100 + n)]);
        h
    }

    /// Throttles router `i`'s WAN egress to 8 kbit/s with a token bucket (`tc tbf`, burst of
    /// one packet, packets queue up to 10 s, none dropped), or removes the throttle. Each
    /// ~250-byte request then leaves ~250 ms after the one before: a window kernels
    /// without `sch_netem` can still make. False when tbf is missing.
    pub(crate) fn throttle(&self, i: usize, on: bool) -> bool {
        let r = self.router(i);
        if on {
            run(&[
                "ip", "netns", "exec", r, "tc", "qdisc", "add", "dev", "wan", "root", "tbf", "rate", "8kbit", "burst", "1600", "latency",
                "10s",
            ])
            .map_err(|e| eprintln!("NOTE: no tbf qdisc ({e})"))
            .is_ok()
        } else {
            run(&["ip", "netns", "exec", r, "tc", "qdisc", "del", "dev", "wan", "root"]).is_ok()
        }
    }

    /// Kills the `idx`-th spawned process.
    pub(crate) fn kill(&mut self, idx: usize) {
        let _ = self.children[idx].kill();
        let _ = self.children[idx].wait();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for (r, h) in &self.homes {
            let _ = run(&["ip", "netns", "del", h]);
            if !r.is_empty() {
                let _ = run(&["ip", "netns", "del", r]);
            }
        }
        let _ = run(&["ip", "netns", "del", &self.public]);
    }
}
