//! Transfers across injected network faults, TCP+Noise+yamux and UDX+secret-stream.
//! Each case ends intact (hash-checked by the sender) or with a clean typed error —
//! never a hang past its limit. Needs root (network namespaces, iptables).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic

mod netns;

use std::time::{Duration, Instant};

use netns::{ADDR_A, ADDR_B, Net, outcome};

const MIB: usize = 1024 * 1024;

/// Starts a TCP receiver in `b`; returns its index and dialable address.
fn tcp_receiver(net: &mut Net) -> (usize, String) {
    tcp_receiver_on(net, ADDR_B)
}

fn tcp_receiver_on(net: &mut Net, ip: &str) -> (usize, String) {
    let b = net.b.clone();
    let (idx, rx) = net.spawn(&b, &["tcp-recv", &format!("/ip4/{ip}/tcp/4001")]);
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("receiver did not report its address");
    let addr = line.strip_prefix("LISTEN ").unwrap_or_else(|| panic!("unexpected line {line:?}")).to_string();
    (idx, addr)
}

/// Sends `bytes` over TCP from `a`; runs `during` once the sender has started.
fn tcp_transfer(net: &mut Net, bytes: usize, limit: Duration, during: impl FnOnce(&mut Net)) -> serde_json::Value {
    let (_, addr) = tcp_receiver(net);
    tcp_transfer_to(net, &addr, bytes, limit, during)
}

fn tcp_transfer_to(net: &mut Net, addr: &str, bytes: usize, limit: Duration, during: impl FnOnce(&mut Net)) -> serde_json::Value {
    let a = net.a.clone();
    let (sender, rx) = net.spawn(&a, &["tcp-send", addr, &bytes.to_string()]);
    let start = Instant::now();
    during(net);
    let status = net.wait(sender, limit.saturating_sub(start.elapsed()));
    assert!(status.is_some(), "sender still running after {limit:?}: a hang");
    let out = outcome(&rx, Duration::from_secs(1));
    eprintln!("outcome after {:?}: {out}", start.elapsed());
    out
}

fn udx_receiver(net: &mut Net) -> usize {
    udx_receiver_on(net, &format!("{ADDR_B}:5002"), &format!("{ADDR_A}:5001"))
}

fn udx_receiver_on(net: &mut Net, bind: &str, remote: &str) -> usize {
    let b = net.b.clone();
    let (idx, rx) = net.spawn(&b, &["udx-recv", bind, remote]);
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("receiver did not bind");
    assert!(line.starts_with("BOUND "), "unexpected line {line:?}");
    idx
}

fn udx_transfer(net: &mut Net, bytes: usize, rto_timeouts: u32, limit: Duration, during: impl FnOnce(&mut Net)) -> serde_json::Value {
    udx_transfer_to(net, &format!("{ADDR_B}:5002"), bytes, rto_timeouts, limit, during)
}

fn udx_transfer_to(
    net: &mut Net,
    remote: &str,
    bytes: usize,
    rto_timeouts: u32,
    limit: Duration,
    during: impl FnOnce(&mut Net),
) -> serde_json::Value {
    let a = net.a.clone();
    let (bind, remote, bytes, rto) = (format!("{ADDR_A}:5001"), remote.to_string(), bytes.to_string(), rto_timeouts.to_string());
    let (sender, rx) = net.spawn(&a, &["udx-send", &bind, &remote, &bytes, "--max-rto-timeouts", &rto]);
    let start = Instant::now();
    during(net);
    let status = net.wait(sender, limit.saturating_sub(start.elapsed()));
    assert!(status.is_some(), "sender still running after {limit:?}: a hang");
    let out = outcome(&rx, Duration::from_secs(1));
    eprintln!("outcome after {:?}: {out}", start.elapsed());
    out
}

fn assert_intact(out: &serde_json::Value, bytes: usize) {
    assert_eq!(out["ok"], true, "transfer failed: {out}");
    assert_eq!(out["bytes"], bytes as u64, "{out}");
}

/// A clean typed error: the sender reported failure with an I/O error kind.
fn assert_typed_error(out: &serde_json::Value) {
    assert_eq!(out["ok"], false, "transfer to a killed peer succeeded: {out}");
    assert!(out["kind"].is_string(), "no typed I/O error: {out}");
}

/// Sent across the 200 ms delay line.
const DELAYED: usize = 8 * MIB;

/// Big enough (≈1 s unimpaired) that the partition falls mid-transfer.
const PARTITIONED: usize = 64 * MIB;

/// Cuts the link 200 ms after the sender starts (handshake done, data flowing) and
/// heals it 3 s later — well inside the 30 s idle timeout and the UDX RTO budget.
fn cut_for_3s(net: &mut Net) {
    std::thread::sleep(Duration::from_millis(200));
    net.partition();
    std::thread::sleep(Duration::from_secs(3));
    net.heal();
}

/// The transfer lasted through the partition rather than finishing before it.
fn assert_partition_hit(out: &serde_json::Value) {
    assert!(out["ms"].as_u64().is_some_and(|ms| ms > 3000), "transfer finished before the partition: {out}");
}

#[test]
fn tcp_across_10_percent_loss() {
    let mut net = Net::new();
    net.loss(0.10);
    let out = tcp_transfer(&mut net, 8 * MIB, Duration::from_secs(60), |_| {});
    assert_intact(&out, 8 * MIB);
}

/// Starts a delay line in `b` and waits until it is bound.
fn delay_line(net: &mut Net, args: &[&str]) {
    let b = net.b.clone();
    let (_, rx) = net.spawn(&b, args);
    let line = rx.recv_timeout(Duration::from_secs(10)).expect("delay line did not bind");
    assert!(line.starts_with("BOUND "), "unexpected line {line:?}");
}

/// 200 ms each way (400 ms RTT) through a userspace delay line in `b`: the kernel here
/// has no `sch_netem`, so `tc qdisc … netem delay` is not available.
#[test]
fn tcp_across_200ms_delay() {
    let mut net = Net::new();
    let (_, addr) = tcp_receiver_on(&mut net, "127.0.0.1");
    delay_line(&mut net, &["tcp-delay", &format!("{ADDR_B}:4003"), "127.0.0.1:4001", "200"]);
    let addr = addr.replace("/ip4/127.0.0.1/tcp/4001", &format!("/ip4/{ADDR_B}/tcp/4003"));
    let out = tcp_transfer_to(&mut net, &addr, DELAYED, Duration::from_secs(60), |_| {});
    assert_intact(&out, DELAYED);
    assert!(out["ms"].as_u64().is_some_and(|ms| ms > 1200), "no delay seen (handshake alone is 3 RTTs): {out}");
}

#[test]
fn tcp_across_healing_partition() {
    let mut net = Net::new();
    let out = tcp_transfer(&mut net, PARTITIONED, Duration::from_secs(40), cut_for_3s);
    assert_intact(&out, PARTITIONED);
    assert_partition_hit(&out);
}

#[test]
fn tcp_receiver_killed_mid_transfer() {
    let mut net = Net::new();
    let (receiver, addr) = tcp_receiver(&mut net);
    let a = net.a.clone();
    let (sender, rx) = net.spawn(&a, &["tcp-send", &addr, &(4096 * MIB).to_string()]);
    std::thread::sleep(Duration::from_millis(1000));
    net.kill(receiver);
    let killed = Instant::now();
    let status = net.wait(sender, Duration::from_secs(10));
    assert!(status.is_some(), "sender still running 10 s after the receiver died: a hang");
    let out = outcome(&rx, Duration::from_secs(1));
    eprintln!("sender ended {:?} after the kill: {out}", killed.elapsed());
    assert_typed_error(&out);
}

#[test]
fn udx_across_10_percent_loss() {
    let mut net = Net::new();
    net.loss(0.10);
    udx_receiver(&mut net);
    let out = udx_transfer(&mut net, 8 * MIB, 6, Duration::from_secs(60), |_| {});
    assert_intact(&out, 8 * MIB);
}

#[test]
fn udx_across_200ms_delay() {
    let mut net = Net::new();
    udx_receiver_on(&mut net, "127.0.0.1:5002", "127.0.0.1:5004");
    delay_line(&mut net, &["udp-delay", &format!("{ADDR_B}:5003"), "127.0.0.1:5004", "127.0.0.1:5002", "200"]);
    let out = udx_transfer_to(&mut net, &format!("{ADDR_B}:5003"), DELAYED, 6, Duration::from_secs(60), |_| {});
    assert_intact(&out, DELAYED);
    assert!(out["ms"].as_u64().is_some_and(|ms| ms > 1200), "no delay seen: {out}");
}

#[test]
fn udx_across_healing_partition() {
    let mut net = Net::new();
    udx_receiver(&mut net);
    let out = udx_transfer(&mut net, PARTITIONED, 6, Duration::from_secs(40), cut_for_3s);
    assert_intact(&out, PARTITIONED);
    assert_partition_hit(&out);
}

#[test]
fn udx_receiver_killed_mid_transfer() {
    let mut net = Net::new();
    let receiver = udx_receiver(&mut net);
    // Three RTO expiries (1 s + 2 s + 4 s at the 1 s floor) end the stream.
    let out = udx_transfer(&mut net, 4096 * MIB, 3, Duration::from_secs(25), |net| {
        std::thread::sleep(Duration::from_millis(1000));
        net.kill(receiver);
    });
    assert_typed_error(&out);
    assert!(out["error"].as_str().is_some_and(|e| e.contains("close reason Some(")), "no UDX close reason: {out}");
}
