//! Async shell tests over in-memory pipes.

use rhizome_core::ProtocolId;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::*;

fn pid(s: &str) -> ProtocolId {
    ProtocolId::new(s).unwrap()
}

async fn with_timeout<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(std::time::Duration::from_secs(10), f).await.expect("test timed out")
}

#[tokio::test]
async fn v1_negotiation_then_data_both_ways() {
    with_timeout(async {
        let (a, b) = tokio::io::duplex(1024);
        let listener = tokio::spawn(async move {
            let supported = vec![pid("/echo/1")];
            let (p, mut io) = listener_select(b, &supported).await.unwrap();
            let mut buf = [0u8; 5];
            io.read_exact(&mut buf).await.unwrap();
            io.write_all(&buf).await.unwrap();
            io.flush().await.unwrap();
            p
        });
        let (p, mut io) = dialer_select(a, vec![pid("/nope"), pid("/echo/1")], Version::V1).await.unwrap();
        assert_eq!(p, pid("/echo/1"));
        io.write_all(b"hello").await.unwrap();
        io.flush().await.unwrap();
        let mut buf = [0u8; 5];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(listener.await.unwrap(), pid("/echo/1"));
    })
    .await
}

#[tokio::test]
async fn lazy_dialer_sends_proposal_with_first_write() {
    with_timeout(async {
        let (a, mut b) = tokio::io::duplex(1024);
        let (p, mut io) = dialer_select(a, vec![pid("/noise")], Version::V1Lazy).await.unwrap();
        assert_eq!(p, pid("/noise"));
        assert!(io.is_pending());
        io.write_all(b"msg1").await.unwrap();
        // Everything arrives as one contiguous chunk: header, proposal, data.
        let mut got = vec![0u8; 20 + 8 + 4];
        b.read_exact(&mut got).await.unwrap();
        let mut want = Vec::new();
        Message::Header.encode(&mut want);
        Message::Protocol("/noise".into()).encode(&mut want);
        want.extend_from_slice(b"msg1");
        assert_eq!(got, want);
        // The listener's header, echo and first bytes in one segment.
        let mut reply = Vec::new();
        Message::Header.encode(&mut reply);
        Message::Protocol("/noise".into()).encode(&mut reply);
        reply.extend_from_slice(b"msg2");
        b.write_all(&reply).await.unwrap();
        let mut buf = [0u8; 4];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"msg2");
        assert!(!io.is_pending());
    })
    .await
}

/// A lazy dialer that reads before it writes must still send (and flush) its proposal.
async fn lazy_dialer_reads_first<IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    wrap: impl FnOnce(tokio::io::DuplexStream) -> IO,
) {
    with_timeout(async {
        let (a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move {
            let (_, mut io) = listener_select(b, &vec![pid("/greet")]).await.unwrap();
            io.write_all(b"hi").await.unwrap();
            io.flush().await.unwrap();
        });
        let (_, mut io) = dialer_select(wrap(a), vec![pid("/greet")], Version::V1Lazy).await.unwrap();
        let mut buf = [0u8; 2];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        server.await.unwrap();
    })
    .await
}

#[tokio::test]
async fn lazy_dialer_read_first_still_sends_proposal() {
    lazy_dialer_reads_first(|a| a).await
}

#[tokio::test]
async fn lazy_dialer_reading_first_flushes_through_a_buffering_layer() {
    // A buffered layer below holds the proposal until flushed: the read path must flush it.
    lazy_dialer_reads_first(tokio::io::BufStream::new).await
}

#[tokio::test]
async fn lazy_dialer_refused_fails_on_read() {
    with_timeout(async {
        let (a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move { listener_select(b, &vec![pid("/other")]).await.map(|_| ()) });
        let (_, mut io) = dialer_select(a, vec![pid("/wanted")], Version::V1Lazy).await.unwrap();
        io.write_all(b"data").await.unwrap();
        io.flush().await.unwrap();
        let mut buf = [0u8; 1];
        let err = io.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        // The listener answered na; once the dialer gives up, it fails too.
        drop(io);
        assert!(server.await.unwrap().is_err());
    })
    .await
}

#[tokio::test]
async fn listener_answers_a_dialer_that_waits_for_the_header() {
    // py-libp2p's dialer sends the header alone and waits for ours before proposing.
    with_timeout(async {
        let (mut a, b) = tokio::io::duplex(1024);
        let server = tokio::spawn(async move { listener_select(b, &vec![pid("/x")]).await.map(|(p, _)| p) });
        let mut header = Vec::new();
        Message::Header.encode(&mut header);
        a.write_all(&header).await.unwrap();
        let mut got = vec![0u8; header.len()];
        a.read_exact(&mut got).await.unwrap();
        assert_eq!(got, header);
        let mut prop = Vec::new();
        Message::Protocol("/x".into()).encode(&mut prop);
        a.write_all(&prop).await.unwrap();
        let mut echo = vec![0u8; prop.len()];
        a.read_exact(&mut echo).await.unwrap();
        assert_eq!(echo, prop);
        assert_eq!(server.await.unwrap().unwrap(), pid("/x"));
    })
    .await
}

#[tokio::test]
async fn eof_during_negotiation_is_failed_and_garbage_is_an_error() {
    with_timeout(async {
        let (a, mut b) = tokio::io::duplex(1024);
        let closer = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let _ = b.read(&mut buf).await;
        });
        assert!(matches!(dialer_select(a, vec![pid("/x")], Version::V1).await, Err(NegotiationError::Failed)));
        closer.await.unwrap();

        let (mut a, b) = tokio::io::duplex(4096);
        a.write_all(&[0x80, 0x40]).await.unwrap(); // announces an 8 KiB line
        let res = listener_select(b, &vec![pid("/x")]).await;
        assert!(matches!(res, Err(NegotiationError::Protocol(ProtocolError::MessageTooLong(_)))));

        let (mut a, b) = tokio::io::duplex(4096);
        let mut bad = Vec::new();
        Message::Header.encode(&mut bad);
        bad.extend_from_slice(b"\x04/\xff\xfe\n");
        a.write_all(&bad).await.unwrap();
        let res = listener_select(b, &vec![pid("/x")]).await;
        assert!(matches!(res, Err(NegotiationError::Protocol(ProtocolError::InvalidUtf8))));
    })
    .await
}

/// Writes made through a pipe, one entry per `poll_write` call that moved bytes.
struct Recorder {
    inner: tokio::io::DuplexStream,
    writes: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
}

impl tokio::io::AsyncRead for Recorder {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Recorder {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = polled {
            self.writes.lock().unwrap().push(buf[..n].to_vec());
        }
        polled
    }
    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn deferred_listener_sends_echo_with_its_first_write() {
    with_timeout(async {
        let (a, b) = tokio::io::duplex(1024);
        let writes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let b = Recorder { inner: b, writes: writes.clone() };
        // A lazy dialer: proposal and first bytes arrive together.
        let (_, mut dialer) = dialer_select(a, vec![pid("/noise")], Version::V1Lazy).await.unwrap();
        dialer.write_all(b"msg1").await.unwrap();
        dialer.flush().await.unwrap();
        let supported = vec![pid("/noise")];
        let (p, mut listener) = listener_select_deferred(b, &supported).await.unwrap();
        assert_eq!(p, pid("/noise"));
        // Nothing written yet; the buffered input is delivered without sending the echo.
        let mut got = [0u8; 4];
        listener.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"msg1");
        assert!(writes.lock().unwrap().is_empty());
        listener.write_all(b"msg2").await.unwrap();
        listener.flush().await.unwrap();
        // Header, echo and the first bytes in one write.
        let mut want = Vec::new();
        Message::Header.encode(&mut want);
        Message::Protocol("/noise".into()).encode(&mut want);
        want.extend_from_slice(b"msg2");
        assert_eq!(*writes.lock().unwrap(), vec![want]);
        let mut reply = [0u8; 4];
        dialer.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"msg2");
    })
    .await
}

#[tokio::test]
async fn deferred_echo_leaves_before_a_read_that_waits() {
    with_timeout(async {
        // A V1 dialer waits for the echo before sending anything else.
        let (a, b) = tokio::io::duplex(1024);
        let listener = tokio::spawn(async move {
            let supported = vec![pid("/noise")];
            let (_, mut io) = listener_select_deferred(b, &supported).await.unwrap();
            let mut got = [0u8; 4];
            io.read_exact(&mut got).await.unwrap();
            got
        });
        let (_, mut dialer) = dialer_select(a, vec![pid("/noise")], Version::V1).await.unwrap();
        dialer.write_all(b"msg1").await.unwrap();
        dialer.flush().await.unwrap();
        assert_eq!(&listener.await.unwrap(), b"msg1");
    })
    .await
}
