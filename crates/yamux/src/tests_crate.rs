//! Our muxer against the `yamux` crate (and itself), over an in-memory duplex.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rhizome_core::{BoxIo, Muxer as _, Role};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::{Config, Implementation};

const OWN: Implementation = Implementation::Own;
const CRATE: Implementation = Implementation::Crate;
/// (client, server) pairs: ours against the crate both ways, and ours alone.
const PAIRS: [(Implementation, Implementation); 3] = [(OWN, CRATE), (CRATE, OWN), (OWN, OWN)];

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f).await.expect("test timed out")
}

struct Side {
    control: rhizome_core::MuxControl,
    inbound: rhizome_core::InboundReceiver,
}

fn side(cfg: Config, io: BoxIo, role: Role) -> Side {
    let m = cfg.start(io, role);
    tokio::spawn(m.driver);
    Side { control: m.control, inbound: m.inbound }
}

fn cfg(implementation: Implementation) -> Config {
    Config { implementation, ..Config::default() }
}

/// A client and a server over a duplex of `buf` bytes.
fn pair(client: Config, server: Config, buf: usize) -> (Side, Side) {
    let (a, b) = tokio::io::duplex(buf);
    (side(client, Box::new(a), Role::Initiator), side(server, Box::new(b), Role::Responder))
}

/// Deterministic test bytes.
fn data(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn sha(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Echoes every inbound stream (reading and writing at once).
fn echo_server(s: Side) {
    let Side { control, mut inbound } = s;
    tokio::spawn(async move {
        let _control = control; // dropping every control closes the connection
        while let Some(inc) = inbound.recv().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(inc.io);
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_streams_echo_with_sha256() {
    with_timeout(async {
        for (c, s) in PAIRS {
            eprintln!("pair {c:?} -> {s:?}");
            let (client, server) = pair(cfg(c), cfg(s), 64 * 1024);
            echo_server(server);
            let mut tasks = Vec::new();
            for i in 0..16u32 {
                let control = client.control.clone();
                tasks.push(tokio::spawn(async move {
                    let payload = data(i, 2 * 1024 * 1024 + i as usize * 1000);
                    let io = control.open_stream().await.unwrap();
                    let (mut r, mut w) = tokio::io::split(io);
                    let sent = sha(&payload);
                    let writer = tokio::spawn(async move {
                        for chunk in payload.chunks(10_000) {
                            w.write_all(chunk).await.unwrap();
                        }
                        w.shutdown().await.unwrap();
                    });
                    let mut back = Vec::new();
                    r.read_to_end(&mut back).await.unwrap();
                    writer.await.unwrap();
                    assert_eq!(sha(&back), sent, "stream {i}");
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            client.control.close().await;
        }
    })
    .await
}

#[tokio::test]
async fn half_close_both_ways() {
    with_timeout(async {
        for (c, s) in PAIRS {
            eprintln!("pair {c:?} -> {s:?}");
            let (mut client, mut server) = pair(cfg(c), cfg(s), 16 * 1024);
            // Client speaks and half-closes; the server answers after EOF.
            let srv = tokio::spawn(async move {
                let mut st = server.inbound.recv().await.unwrap().io;
                let mut got = Vec::new();
                st.read_to_end(&mut got).await.unwrap();
                assert_eq!(got, b"request");
                st.write_all(b"response").await.unwrap();
                st.shutdown().await.unwrap();
                // And a stream the server opens.
                let mut st2 = server.control.open_stream().await.unwrap();
                st2.write_all(&data(7, 300_000)).await.unwrap();
                st2.shutdown().await.unwrap();
                let mut back = Vec::new();
                st2.read_to_end(&mut back).await.unwrap();
                assert_eq!(back, b"thanks");
                server
            });
            let mut st = client.control.open_stream().await.unwrap();
            st.write_all(b"request").await.unwrap();
            st.shutdown().await.unwrap();
            let mut got = Vec::new();
            st.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, b"response");
            let mut st2 = client.inbound.recv().await.unwrap().io;
            let mut got = Vec::new();
            st2.read_to_end(&mut got).await.unwrap();
            assert_eq!(got, data(7, 300_000), "{c:?} -> {s:?}");
            st2.write_all(b"thanks").await.unwrap();
            st2.shutdown().await.unwrap();
            let _server = srv.await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn a_dropped_stream_resets_the_other_side() {
    with_timeout(async {
        for (c, s) in PAIRS {
            eprintln!("pair {c:?} -> {s:?}");
            let (client, mut server) = pair(cfg(c), cfg(s), 64 * 1024);
            let mut st = client.control.open_stream().await.unwrap();
            st.write_all(b"hello").await.unwrap();
            st.flush().await.unwrap();
            let mut inc = server.inbound.recv().await.unwrap().io;
            let mut buf = [0u8; 5];
            inc.read_exact(&mut buf).await.unwrap();
            drop(st); // not closed: RST
            // The server's writes fail soon.
            let mut failed = false;
            for _ in 0..200 {
                if inc.write_all(&[0u8; 1024]).await.is_err() || inc.flush().await.is_err() {
                    failed = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(failed, "{c:?} -> {s:?}: writes to a reset stream kept succeeding");
            // The connection is fine.
            let mut st = client.control.open_stream().await.unwrap();
            st.write_all(b"again").await.unwrap();
            st.flush().await.unwrap();
            let mut inc = server.inbound.recv().await.unwrap().io;
            inc.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"again");
        }
    })
    .await
}

#[tokio::test]
async fn a_slow_reader_holds_the_writer_to_the_window() {
    with_timeout(async {
        const TOTAL: usize = 3 * 1024 * 1024;
        for (c, s) in PAIRS {
            eprintln!("pair {c:?} -> {s:?}");
            let (client, mut server) = pair(cfg(c), cfg(s), 64 * 1024);
            let read = Arc::new(AtomicUsize::new(0));
            let seen = read.clone();
            let srv = tokio::spawn(async move {
                let mut inc = server.inbound.recv().await.unwrap().io;
                let mut got = Vec::new();
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = inc.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                    seen.store(got.len(), Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                (server, got)
            });
            let payload = data(3, TOTAL);
            let mut st = client.control.open_stream().await.unwrap();
            st.write_all(&payload).await.unwrap();
            st.flush().await.unwrap();
            // What the reader has not read is at most a (grown) window plus the pipe.
            let unread = TOTAL - read.load(Ordering::SeqCst);
            assert!(unread <= 1024 * 1024 + 200 * 1024, "{c:?} -> {s:?}: {unread} bytes beyond the reader");
            st.shutdown().await.unwrap();
            let (_server, got) = srv.await.unwrap();
            assert_eq!(sha(&got), sha(&payload));
        }
    })
    .await
}

#[tokio::test]
async fn more_opens_than_the_ack_backlog() {
    with_timeout(async {
        for (c, s) in PAIRS {
            eprintln!("pair {c:?} -> {s:?}");
            let (client, server) = pair(cfg(c), cfg(s), 256 * 1024);
            echo_server(server);
            let mut tasks = Vec::new();
            for i in 0u32..600 {
                let control = client.control.clone();
                tasks.push(tokio::spawn(async move {
                    let mut st = control.open_stream().await.unwrap();
                    st.write_all(&i.to_be_bytes()).await.unwrap();
                    st.shutdown().await.unwrap();
                    let mut back = Vec::new();
                    st.read_to_end(&mut back).await.unwrap();
                    assert_eq!(back, i.to_be_bytes());
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    })
    .await
}

/// A remote opening more than `max_streams` gets the extra streams reset, and the
/// connection stays up.
#[tokio::test]
async fn inbound_streams_beyond_the_limit_are_reset() {
    with_timeout(async {
        for c in [OWN, CRATE] {
            let server_cfg = Config { max_streams: 4, ..cfg(OWN) };
            let (client, mut server) = pair(cfg(c), server_cfg, 64 * 1024);
            let mut streams = Vec::new();
            for i in 0..6u8 {
                let mut st = client.control.open_stream().await.unwrap();
                st.write_all(&[i]).await.unwrap();
                st.flush().await.unwrap();
                streams.push(st);
            }
            let mut accepted = Vec::new();
            for _ in 0..4 {
                accepted.push(server.inbound.recv().await.unwrap().io);
            }
            // The two extra streams are reset: reading them fails or ends.
            for st in streams.iter_mut().skip(4) {
                let mut b = [0u8; 1];
                let r = tokio::time::timeout(Duration::from_secs(5), st.read(&mut b)).await.expect("no reset");
                assert!(matches!(r, Err(_) | Ok(0)), "{r:?}");
            }
            assert!(tokio::time::timeout(Duration::from_millis(200), server.inbound.recv()).await.is_err());
            // The first four still work.
            streams[0].write_all(b"ok").await.unwrap();
            streams[0].flush().await.unwrap();
            let mut b = [0u8; 3];
            accepted[0].read_exact(&mut b).await.unwrap();
            assert_eq!(&b, b"\x00ok");
            assert!(!client.control.is_closed());
        }
    })
    .await
}
