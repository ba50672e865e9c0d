//! The tokio shell over 127.0.0.1: Rust ↔ Rust streams, raw datagrams, loss.

use std::time::Duration;

use rhizome_udx::{LossConfig, Socket};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

async fn pair(loss: Option<LossConfig>) -> anyhow::Result<(Socket, Socket, rhizome_udx::Stream, rhizome_udx::Stream)> {
    let a = Socket::bind("127.0.0.1:0").await?;
    let b = Socket::bind("127.0.0.1:0").await?;
    a.set_loss(loss);
    let sa = a.stream(10)?;
    let sb = b.stream(20)?;
    sa.connect(20, b.local_addr()?)?;
    sb.connect(10, a.local_addr()?)?;
    Ok((a, b, sa, sb))
}

async fn both_ways(size: usize, loss: Option<LossConfig>) -> anyhow::Result<()> {
    let (_a, _b, sa, sb) = pair(loss).await?;
    let data = pattern(size);
    let want = Sha256::digest(&data);
    let run = |mut s: rhizome_udx::Stream, data: Vec<u8>| async move {
        let (mut r, mut w) = tokio::io::split(&mut s);
        let writer = async {
            w.write_all(&data).await?;
            w.shutdown().await?;
            anyhow::Ok(())
        };
        let reader = async {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await?;
            anyhow::Ok(got)
        };
        let (wr, got) = tokio::join!(writer, reader);
        wr?;
        anyhow::Ok((got?, s))
    };
    let (ra, rb) = tokio::join!(run(sa, data.clone()), run(sb, data));
    let ((got_a, sa), (got_b, _sb)) = (ra?, rb?);
    assert_eq!(got_a.len(), size);
    assert_eq!(Sha256::digest(&got_a), want);
    assert_eq!(Sha256::digest(&got_b), want);
    if loss.is_some() {
        assert!(sa.stats().retransmits > 0, "{:?}", sa.stats());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_mib_both_ways() -> anyhow::Result<()> {
    timeout(Duration::from_secs(60), both_ways(8 << 20, None)).await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_mib_both_ways_with_five_percent_loss() -> anyhow::Result<()> {
    let loss = LossConfig { seed: 5, outgoing: 0.05, incoming: 0.05 };
    timeout(Duration::from_secs(60), both_ways(4 << 20, Some(loss))).await?
}

#[tokio::test]
async fn non_udx_datagrams_go_to_the_raw_queue() -> anyhow::Result<()> {
    timeout(Duration::from_secs(10), async {
        let (a, b, _sa, _sb) = pair(None).await?;
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        // dht-rpc-looking bytes, a 1-byte holepunch probe, a UDX header for an unknown id
        let mut unknown = vec![0xff, 0x01, 0x01, 0x00];
        unknown.extend_from_slice(&999u32.to_le_bytes());
        unknown.resize(24, 0);
        for d in [&[0x03, 0x01, 0x02][..], &[0x00][..], &unknown[..]] {
            peer.send_to(d, a.local_addr()?).await?;
            let got = a.recv_raw().await.ok_or_else(|| anyhow::anyhow!("closed"))?;
            assert_eq!(&got.data[..], d);
            assert_eq!(got.from, peer.local_addr()?);
        }
        a.send_raw(b"\x13reply", peer.local_addr()?).await?;
        let mut buf = [0u8; 16];
        let (n, _) = peer.recv_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"\x13reply");
        drop(b);
        anyhow::Ok(())
    })
    .await?
}

#[tokio::test]
async fn destroy_resets_the_peer_and_ids_are_unique() -> anyhow::Result<()> {
    timeout(Duration::from_secs(10), async {
        let (a, _b, sa, mut sb) = pair(None).await?;
        assert!(a.stream(10).is_err(), "id in use");
        sa.destroy();
        let mut buf = [0u8; 8];
        let err = sb.read(&mut buf).await.expect_err("reset");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
        anyhow::Ok(())
    })
    .await?
}

#[tokio::test(start_paused = false)]
async fn early_data_before_connect_is_kept() -> anyhow::Result<()> {
    timeout(Duration::from_secs(10), async {
        let a = Socket::bind("127.0.0.1:0").await?;
        let b = Socket::bind("127.0.0.1:0").await?;
        let mut sa = a.stream(1)?;
        let mut sb = b.stream(2)?;
        sa.connect(2, b.local_addr()?)?;
        sa.write_all(b"early").await?;
        sa.flush().await?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sb.first_packet_from(), Some(a.local_addr()?), "the early packet's source is kept");
        assert_eq!(sa.first_packet_from(), None, "nothing reached the connected side first");
        sb.connect(1, a.local_addr()?)?;
        let mut buf = [0u8; 5];
        sb.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"early");
        anyhow::Ok(())
    })
    .await?
}

/// Malformed or out-of-window packets addressed to a live stream. (A well-formed
/// DESTROY or in-window DATA from anyone who knows the id is, as in libudx, taken
/// at face value: UDX has no authentication; secret-stream on top does.)
fn hostile(i: u32, x: u64) -> Vec<u8> {
    let mut d = vec![0xff, 0x01, 0, 0];
    d.extend_from_slice(&10u32.to_le_bytes()); // the live stream
    d.extend_from_slice(&(x as u32).to_le_bytes()); // rwnd
    d.extend_from_slice(&[0; 8]);
    match i % 6 {
        0 => d.truncate((x % 20) as usize), // truncated header
        1 => d[1] = 2,                      // wrong version
        2 => {
            d[3] = 200;
            d.resize(30, 0)
        } // data offset past the end
        3 => d[16..20].copy_from_slice(&(1000 + x as u32 % 1000).to_le_bytes()), // ack for unsent data
        4 => {
            // SACK with nonsense blocks
            d[2] = 0x04;
            for k in 0..20u64 {
                d.extend_from_slice(&((x >> k) as u32).to_le_bytes());
            }
        }
        _ => {
            // data far outside the window
            d[2] = 0x01 | ((x as u8) & 0x32);
            d[12..16].copy_from_slice(&(0x4000_0000u32 + x as u32 % 0x3000_0000).to_le_bytes());
            d.extend_from_slice(&[0xee; 100]);
        }
    }
    d
}

#[tokio::test]
async fn garbage_for_a_live_stream_is_dropped() -> anyhow::Result<()> {
    timeout(Duration::from_secs(20), async {
        let (a, _b, mut sa, mut sb) = pair(None).await?;
        let evil = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let mut x = 7u64;
        for i in 0..3000u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            evil.send_to(&hostile(i, x >> 16), a.local_addr()?).await?;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        sb.write_all(b"still alive").await?;
        sb.shutdown().await?;
        let mut got = Vec::new();
        sa.read_to_end(&mut got).await?;
        assert_eq!(got, b"still alive");
        anyhow::Ok(())
    })
    .await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dht_traffic_and_a_stream_share_the_socket() -> anyhow::Result<()> {
    timeout(Duration::from_secs(30), async {
        let (a, _b, mut sa, mut sb) = pair(None).await?;
        let dht = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let to = a.local_addr()?;
        let data = pattern(4 << 20);
        let want = Sha256::digest(&data);
        let sender = async {
            sb.write_all(&data).await?;
            sb.shutdown().await?;
            anyhow::Ok(())
        };
        let receiver = async {
            let mut got = Vec::new();
            sa.read_to_end(&mut got).await?;
            anyhow::Ok(got)
        };
        let chatter = async {
            for i in 0..500u32 {
                let mut m = vec![0x03, 0x00];
                m.extend_from_slice(&i.to_le_bytes());
                dht.send_to(&m, to).await?;
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            anyhow::Ok(())
        };
        let counter = async {
            let mut seen = 0u32;
            while seen + u32::try_from(a.raw_dropped())? < 500 {
                let d = a.recv_raw().await.ok_or_else(|| anyhow::anyhow!("closed"))?;
                assert_eq!(d.data[0], 0x03);
                seen += 1;
            }
            anyhow::Ok(seen)
        };
        let (s, r, c, n) = tokio::join!(sender, receiver, chatter, counter);
        s?;
        c?;
        assert_eq!(Sha256::digest(r?), want);
        assert_eq!(n? + u32::try_from(a.raw_dropped())?, 500);
        anyhow::Ok(())
    })
    .await?
}

#[tokio::test]
async fn finished_streams_free_their_id_and_sockets_shut_down() -> anyhow::Result<()> {
    timeout(Duration::from_secs(10), async {
        let (a, b, mut sa, mut sb) = pair(None).await?;
        sa.write_all(b"ping").await?;
        sa.shutdown().await?;
        let mut got = Vec::new();
        sb.read_to_end(&mut got).await?;
        sb.shutdown().await?;
        sa.read_to_end(&mut got).await?;
        assert_eq!(got, b"ping");
        assert_eq!(sa.close_reason(), Some(rhizome_udx::CloseReason::Finished));
        drop((sa, sb));
        // the driver drops closed streams whose handle is gone
        let mut reused = None;
        for _ in 0..100 {
            if let Ok(s) = a.stream(10) {
                reused = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(reused.is_some(), "id 10 is free again");
        let addr = b.local_addr()?;
        drop((a, b, reused));
        // with every handle gone the socket closes: its port can be bound again
        let mut rebound = false;
        for _ in 0..100 {
            if tokio::net::UdpSocket::bind(addr).await.is_ok() {
                rebound = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(rebound, "socket closed after the last handle");
        anyhow::Ok(())
    })
    .await?
}
