//! A relay that answers the first PEER_HOLEPUNCH round and then goes away: the punch ends
//! with a typed error (no hang), and the puncher's tasks and sockets are released.
//! Loopback only; one test per binary so the task and fd counts are not disturbed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use rhizome_hyperdht::holepunch::client::Punch;
use rhizome_hyperdht::holepunch::{HolepunchError, NatSampler, PunchSocket, SecurePayload, holepunch_secret};
use rhizome_hyperdht::message::{Message, Response};
use rhizome_hyperdht::wire::handshake::{HolepunchMessage, HolepunchPayload, Mode};
use rhizome_hyperdht::wire::payload::{HolepunchInfo, NoisePayload, RelayInfo, firewall};

fn local(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_dies_mid_punch() {
    tokio::time::timeout(Duration::from_secs(30), async {
        let secret = holepunch_secret(&[5; 64]);
        let server_side = SecurePayload::new(&secret);
        let relay = tokio::net::UdpSocket::bind(local(0)).await.unwrap();
        let relay_addr = match relay.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let server_addr = local(9); // never reached: probes to it are dropped
        // the relay: answers round 0 like a server behind a consistent NAT, then dies
        let relay_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut answered = 0;
            loop {
                let (n, from) = relay.recv_from(&mut buf).await.unwrap();
                let Ok(Message::Request(req)) = Message::decode(&buf[..n]) else { continue };
                if answered > 0 {
                    continue; // gone: no more answers
                }
                answered += 1;
                let p = HolepunchPayload {
                    firewall: firewall::CONSISTENT,
                    addresses: Some(vec![server_addr]),
                    token: Some([1; 32]),
                    ..Default::default()
                };
                let value =
                    HolepunchMessage { mode: Mode::Reply, id: 0, payload: server_side.encrypt(&p), peer_address: Some(server_addr) }
                        .encode();
                let std::net::SocketAddr::V4(to) = from else { continue };
                let res = Response { tid: req.tid, to, id: None, token: None, closer_nodes: vec![], error: 0, value: Some(value) };
                relay.send_to(&Message::Response(res).encode(), from).await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tasks_before = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        let fds_before = fds();
        let socket = PunchSocket::bind(Ipv4Addr::LOCALHOST).await.unwrap();
        let mut nat = NatSampler::new(true);
        for i in 0..3 {
            nat.add(local(40000), local(100 + i));
        }
        assert_eq!(nat.firewall(), firewall::CONSISTENT);
        let payload = NoisePayload {
            firewall: firewall::UNKNOWN,
            holepunch: Some(HolepunchInfo { id: 3, relays: vec![RelayInfo { relay_address: relay_addr, peer_address: server_addr }] }),
            ..NoisePayload::default()
        };
        let punch = Punch {
            socket: &socket,
            nat,
            target: [7; 32],
            payload: &payload,
            relay: relay_addr,
            server_address: server_addr,
            secure: SecurePayload::new(&secret),
        };
        let start = Instant::now();
        let err = punch.run().await.expect_err("the relay is gone");
        eprintln!("punch failed after {:?}: {err}", start.elapsed());
        assert_eq!(err, HolepunchError::RelayTimeout { round: 1 }, "round 0 was answered, round 1 not");
        assert!(start.elapsed() < Duration::from_secs(10), "bounded by the request retries");
        drop(socket);
        // released: the reader task, the UDX driver and the socket's fd
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (t, f) = (tokio::runtime::Handle::current().metrics().num_alive_tasks(), fds());
            if t <= tasks_before && f <= fds_before {
                break;
            }
            assert!(Instant::now() < deadline, "leak: tasks {tasks_before}→{t}, fds {fds_before}→{f}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        relay_task.abort();
    })
    .await
    .expect("test timed out");
}
