use rhizome_core::{MuxError, Muxer as _, Role};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::Config;

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(20), f).await.expect("test timed out")
}

fn pair() -> (rhizome_core::MuxedConnection, rhizome_core::MuxedConnection) {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let cfg = Config::default();
    (cfg.start(Box::new(a), Role::Initiator), cfg.start(Box::new(b), Role::Responder))
}

#[tokio::test]
async fn streams_both_directions() {
    with_timeout(async {
        let (a, mut b) = pair();
        let echo = tokio::spawn(async move {
            let mut s = b.inbound.recv().await.unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
            s.shutdown().await.unwrap();
            b
        });
        let mut s = a.control.open_stream().await.unwrap();
        s.write_all(&vec![7u8; 600_000]).await.unwrap();
        s.shutdown().await.unwrap();
        let mut back = Vec::new();
        s.read_to_end(&mut back).await.unwrap();
        assert_eq!(back.len(), 600_000);
        let b = echo.await.unwrap();

        // And the other way round.
        let opener = tokio::spawn(async move {
            let mut s = b.control.open_stream().await.unwrap();
            s.write_all(b"hi").await.unwrap();
            s.shutdown().await.unwrap();
            b
        });
        let mut a = a;
        let mut s = a.inbound.recv().await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"hi");
        opener.await.unwrap();
    })
    .await
}

#[tokio::test]
async fn many_concurrent_streams() {
    with_timeout(async {
        let (a, mut b) = pair();
        tokio::spawn(async move {
            while let Some(mut s) = b.inbound.recv().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4];
                    s.read_exact(&mut buf).await.unwrap();
                    s.write_all(&buf).await.unwrap();
                    s.shutdown().await.unwrap();
                });
            }
        });
        let mut tasks = Vec::new();
        for i in 0u32..1000 {
            let control = a.control.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = control.open_stream().await.unwrap();
                s.write_all(&i.to_be_bytes()).await.unwrap();
                let mut buf = [0u8; 4];
                s.read_exact(&mut buf).await.unwrap();
                assert_eq!(u32::from_be_bytes(buf), i);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn close_ends_both_sides() {
    with_timeout(async {
        let (a, mut b) = pair();
        a.control.close().await;
        assert!(a.control.is_closed());
        assert!(matches!(a.control.open_stream().await, Err(MuxError::Closed)));
        assert!(b.inbound.recv().await.is_none());
        b.control.closed().await;
    })
    .await
}

#[test]
fn config_never_grants_more_than_a_frame() {
    let cfg = Config { max_streams: 10, max_stream_window: 64 * 1024 * 1024, ..Config::default() };
    // Does not panic, and clamps the per-stream window to 1 MiB.
    let _ = cfg.to_yamux();
}
