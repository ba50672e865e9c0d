//! In-process tests of the tokio shell over `tokio::io::duplex` pipes: both modes, both
//! roles, half-close, keep-alives, and bad input from a raw peer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rhizome_secret_stream::noise::{Handshake, HandshakeResult, Pattern};
use rhizome_secret_stream::{
    Config, HandshakeError, Incoming, Keypair, NoiseError, SecretStream, Session, StreamError, encode_frame_header,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};

const T: Duration = Duration::from_secs(10);

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(T, f).await.expect("test timed out")
}

fn keys() -> (Keypair, Keypair) {
    (Keypair::from_seed(&[1; 32]), Keypair::from_seed(&[2; 32]))
}

async fn handshake_pair(config_i: Config, config_r: Config) -> (SecretStream<DuplexStream>, SecretStream<DuplexStream>) {
    let (a, b) = duplex(64 * 1024);
    let (ki, kr) = keys();
    let (i, r) = tokio::join!(SecretStream::handshake(a, true, ki, &config_i), SecretStream::handshake(b, false, kr, &config_r));
    (i.unwrap(), r.unwrap())
}

/// An IK handshake done in memory (as hyperdht does it through the DHT).
fn given() -> (HandshakeResult, HandshakeResult) {
    let (ki, kr) = keys();
    let mut i = Handshake::new(Pattern::Ik, true, ki, b"prologue", Some(kr.public_key())).unwrap();
    let mut r = Handshake::new(Pattern::Ik, false, kr, b"prologue", None).unwrap();
    let m1 = i.write_message(b"").unwrap();
    r.read_message(&m1).unwrap();
    let m2 = r.write_message(b"").unwrap();
    i.read_message(&m2).unwrap();
    (i.finish().unwrap(), r.finish().unwrap())
}

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn exchange(a: SecretStream<DuplexStream>, b: SecretStream<DuplexStream>, n: usize) {
    let (da, db) = (data(n, 1), data(n, 2));
    let side = |s: SecretStream<DuplexStream>, out: Vec<u8>| async move {
        let (mut r, mut w) = tokio::io::split(s);
        let write = async {
            w.write_all(&out).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let read = async {
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            got
        };
        tokio::join!(write, read).1
    };
    let (got_a, got_b) = within(async { tokio::join!(side(a, da.clone()), side(b, db.clone())) }).await;
    assert!(got_a == db && got_b == da, "data differs");
}

#[tokio::test]
async fn xx_both_roles_exchange() {
    let (i, r) = within(handshake_pair(Config::default(), Config::default())).await;
    let (ki, kr) = keys();
    assert!(i.is_initiator() && !r.is_initiator());
    assert_eq!(i.remote_public_key(), &kr.public_key());
    assert_eq!(r.remote_public_key(), &ki.public_key());
    assert_eq!(i.handshake_hash(), r.handshake_hash());
    exchange(i, r, 1 << 20).await;
}

#[tokio::test]
async fn ik_over_pipe_exchange() {
    let (_, kr) = keys();
    let ci = Config::default().pattern(Pattern::Ik).remote_public_key(Some(kr.public_key()));
    let (i, r) = within(handshake_pair(ci, Config::default().pattern(Pattern::Ik))).await;
    exchange(i, r, 300_000).await;
}

#[tokio::test]
async fn given_handshake_exchange() {
    let (hi, hr) = given();
    let (a, b) = duplex(8 * 1024);
    let cfg = Config::default().write_chunk(1000);
    exchange(SecretStream::with_handshake(a, &hi, &cfg), SecretStream::with_handshake(b, &hr, &cfg), 100_000).await;
}

#[tokio::test]
async fn half_close_keeps_the_other_direction() {
    within(async {
        let (mut i, mut r) = handshake_pair(Config::default(), Config::default()).await;
        i.write_all(b"bye").await.unwrap();
        i.shutdown().await.unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        // r can still talk, and i still reads
        r.write_all(b"late reply").await.unwrap();
        r.shutdown().await.unwrap();
        let mut got = Vec::new();
        i.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"late reply");
        let err = i.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    })
    .await;
}

/// A raw peer: the other end of a `with_handshake` stream, driven with the sans-IO session.
async fn raw_peer(cfg: Config) -> (SecretStream<DuplexStream>, DuplexStream, Session) {
    let (hi, hr) = given();
    let (a, b) = duplex(1 << 20);
    let stream = SecretStream::with_handshake(a, &hi, &cfg);
    (stream, b, Session::new(&hr, rhizome_secret_stream::MAX_FRAME_LEN))
}

#[tokio::test(start_paused = true)]
async fn keep_alives_are_sent_when_idle_and_dropped_when_received() {
    // Virtual time: the 60 s budget covers the 16 s of idling and still ends a hang.
    tokio::time::timeout(Duration::from_secs(60), async {
        let (mut stream, mut raw, mut peer) = raw_peer(Config::default().keep_alive(Some(Duration::from_secs(5)))).await;
        // The raw peer sends its header, two keep-alives and a message.
        let mut wire = peer.take_header().unwrap().to_vec();
        peer.encrypt(b"", &mut wire).unwrap();
        peer.encrypt(b"", &mut wire).unwrap();
        peer.encrypt(b"payload", &mut wire).unwrap();
        raw.write_all(&wire).await.unwrap();
        let mut buf = [0u8; 7];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"payload");
        // Now idle for 16 s while a read is pending: three keep-alives go out.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            let r = stream.read(&mut buf).await;
            (r, stream)
        });
        let mut bytes = vec![0u8; 4096];
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(16);
        while let Ok(n) = tokio::time::timeout_at(deadline, raw.read(&mut bytes)).await {
            let mut chunk = &bytes[..n.unwrap()];
            while !chunk.is_empty() {
                let (used, inc) = peer.decode(chunk).unwrap();
                chunk = &chunk[used..];
                seen.extend(inc);
            }
        }
        assert_eq!(seen, [Incoming::Header, Incoming::KeepAlive, Incoming::KeepAlive, Incoming::KeepAlive]);
        // End our raw side: the pending read sees a clean EOF.
        raw.shutdown().await.unwrap();
        let (r, _stream) = within(reader).await.unwrap();
        assert_eq!(r.unwrap(), 0);
    })
    .await
    .expect("test timed out");
}

fn stream_err(e: &std::io::Error) -> &StreamError {
    StreamError::from_io(e).unwrap_or_else(|| panic!("not a StreamError: {e:?}"))
}

#[tokio::test]
async fn truncated_frame_is_an_error_not_eof() {
    within(async {
        let (mut stream, mut raw, mut peer) = raw_peer(Config::default()).await;
        let mut wire = peer.take_header().unwrap().to_vec();
        peer.encrypt(b"cut short", &mut wire).unwrap();
        raw.write_all(&wire[..wire.len() - 4]).await.unwrap();
        raw.shutdown().await.unwrap();
        let err = stream.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert!(matches!(stream_err(&err), StreamError::Truncated));
    })
    .await;
}

#[tokio::test]
async fn oversize_frame_is_rejected() {
    within(async {
        let (mut stream, mut raw, mut peer) = raw_peer(Config::default().max_frame_len(1000)).await;
        let mut wire = peer.take_header().unwrap().to_vec();
        peer.encrypt(&[0u8; 2000], &mut wire).unwrap();
        raw.write_all(&wire).await.unwrap();
        let err = stream.read(&mut [0u8; 10]).await.unwrap_err();
        assert!(matches!(stream_err(&err), StreamError::FrameTooLarge { len: 2017, max: 1000 }));
    })
    .await;
}

#[tokio::test]
async fn tampered_in_flight_is_bad_mac() {
    within(async {
        let (mut stream, mut raw, mut peer) = raw_peer(Config::default()).await;
        let mut wire = peer.take_header().unwrap().to_vec();
        peer.encrypt(b"do not touch", &mut wire).unwrap();
        let n = wire.len();
        wire[n - 20] ^= 4;
        raw.write_all(&wire).await.unwrap();
        let err = stream.read(&mut [0u8; 64]).await.unwrap_err();
        assert!(matches!(stream_err(&err), StreamError::BadMac(_)));
        let err = stream.write_all(b"x").await.unwrap_err();
        assert!(matches!(stream_err(&err), StreamError::Closed));
    })
    .await;
}

#[tokio::test]
async fn wrong_stream_id_is_rejected() {
    within(async {
        let (mut stream, mut raw, _) = raw_peer(Config::default()).await;
        // a header for another handshake
        let (_, other) = given();
        let mut other = Session::new(&HandshakeResult { hash: [9; 64], ..other }, 1000);
        raw.write_all(&other.take_header().unwrap()).await.unwrap();
        let err = stream.read(&mut [0u8; 64]).await.unwrap_err();
        assert!(matches!(stream_err(&err), StreamError::BadStreamId));
    })
    .await;
}

async fn responder_against(raw_bytes: Vec<u8>, config: Config) -> HandshakeError {
    let (a, mut b) = duplex(1 << 20);
    b.write_all(&raw_bytes).await.unwrap();
    let (_, kr) = keys();
    let hs = tokio::spawn(async move { SecretStream::handshake(a, false, kr, &config).await.map(|_| ()) });
    // keep b open until the responder gives up, then drop it
    let r = within(async {
        tokio::select! {
            r = hs => r.unwrap(),
            _ = async { loop { let mut s = [0u8; 1024]; if b.read(&mut s).await.unwrap_or(0) == 0 { std::future::pending::<()>().await } } } => unreachable!(),
        }
    })
    .await;
    r.unwrap_err()
}

fn framed(msg: &[u8]) -> Vec<u8> {
    let mut v = encode_frame_header(msg.len()).unwrap().to_vec();
    v.extend_from_slice(msg);
    v
}

#[tokio::test]
async fn garbage_handshake_messages_fail_typed() {
    // XX message 1 must be exactly 32 bytes of key; 10 bytes is too short.
    let e = responder_against(framed(&[7; 10]), Config::default()).await;
    assert!(matches!(e, HandshakeError::Noise(NoiseError::MessageTooShort { .. })), "{e:?}");
    // a frame longer than any Noise message
    let e = responder_against(vec![0xff, 0xff, 0x01], Config::default()).await;
    assert!(matches!(e, HandshakeError::Frame(StreamError::FrameTooLarge { .. })), "{e:?}");
    // IK message 1 of garbage: bad point or bad MAC, never a panic
    let e = responder_against(framed(&[0x55; 112]), Config::default().pattern(Pattern::Ik)).await;
    assert!(matches!(e, HandshakeError::Noise(NoiseError::InvalidPublicKey | NoiseError::Decrypt(_))), "{e:?}");
}

#[tokio::test]
async fn closed_mid_handshake() {
    let (a, b) = duplex(1024);
    drop(b);
    let (ki, _) = keys();
    let e = within(SecretStream::handshake(a, true, ki, &Config::default())).await.unwrap_err();
    assert!(matches!(e, HandshakeError::Io(_) | HandshakeError::Closed), "{e:?}");
}

/// A replayed XX message 1 gets a fresh message 2; the replayer cannot answer it, and
/// message 3 from another session does not authenticate.
#[tokio::test]
async fn replayed_handshake_is_rejected() {
    let (ki, kr) = keys();
    let xx = |init: bool, k: Keypair| Handshake::new(Pattern::Xx, init, k, &[], None).unwrap();
    // A recorded session: i1 <-> r1.
    let (mut i1, mut r1) = (xx(true, ki.clone()), xx(false, kr.clone()));
    let m1 = i1.write_message(&[]).unwrap();
    r1.read_message(&m1).unwrap();
    let m2 = r1.write_message(&[]).unwrap();
    i1.read_message(&m2).unwrap();
    let m3 = i1.write_message(&[]).unwrap();
    // Replay m1 and m3 to a fresh responder stream.
    let mut wire = framed(&m1);
    wire.extend(framed(&m3));
    let e = responder_against(wire, Config::default()).await;
    assert!(matches!(e, HandshakeError::Noise(NoiseError::Decrypt(_))), "{e:?}");
    // Replay only m1 and stall: the handshake timeout ends it.
    let e = responder_against(framed(&m1), Config::default().handshake_timeout(Some(Duration::from_millis(300)))).await;
    assert!(matches!(e, HandshakeError::Timeout), "{e:?}");
}

/// Throughput over TCP on 127.0.0.1, Rust to Rust (run with `--ignored --nocapture`,
/// ideally `--release`).
#[tokio::test]
#[ignore = "benchmark"]
async fn throughput_tcp_loopback() {
    const N: usize = 256 * 1024 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (ki, kr) = keys();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = SecretStream::handshake(tcp, false, kr, &Config::default()).await.unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0;
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break total;
            }
            total += n;
        }
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut c = SecretStream::handshake(tcp, true, ki, &Config::default()).await.unwrap();
    let chunk = vec![0x5au8; 1024 * 1024];
    let start = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(120), async {
        for _ in 0..N / chunk.len() {
            c.write_all(&chunk).await.unwrap();
        }
        c.shutdown().await.unwrap();
        assert_eq!(server.await.unwrap(), N);
    })
    .await
    .expect("benchmark timed out");
    let secs = start.elapsed().as_secs_f64();
    eprintln!("secret-stream over TCP loopback: {} MiB in {secs:.2} s = {:.0} MiB/s", N >> 20, (N >> 20) as f64 / secs);
}

/// A pipe that returns short reads and writes and spurious `Pending`s (waking at once),
/// driven by a seed: exercises every partial path of the shell.
struct Chaos {
    inner: DuplexStream,
    rng: u64,
}

impl Chaos {
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

impl tokio::io::AsyncRead for Chaos {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = self.next();
        if r.is_multiple_of(4) {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let limit = (1 + (r >> 8) as usize % 97).min(buf.remaining());
        let mut small = tokio::io::ReadBuf::new(buf.initialize_unfilled_to(limit));
        let p = std::pin::Pin::new(&mut self.inner).poll_read(cx, &mut small);
        let n = small.filled().len();
        if p.is_ready() {
            buf.advance(n);
        }
        p
    }
}

impl tokio::io::AsyncWrite for Chaos {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = self.next();
        if r.is_multiple_of(4) {
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let limit = (1 + (r >> 8) as usize % 97).min(buf.len());
        std::pin::Pin::new(&mut self.inner).poll_write(cx, &buf[..limit])
    }
    fn poll_flush(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn chaotic_pipe_both_modes() {
    for seed in 1..=8u64 {
        let (a, b) = duplex(4096);
        let (a, b) = (Chaos { inner: a, rng: seed * 0x9e37_79b9 }, Chaos { inner: b, rng: seed * 0x85eb_ca6b });
        let (ki, kr) = keys();
        let cfg = Config::default().write_chunk(1 + seed as usize * 300);
        let (i, r) =
            within(async { tokio::join!(SecretStream::handshake(a, true, ki, &cfg), SecretStream::handshake(b, false, kr, &cfg)) }).await;
        let (mut i, mut r) = (i.unwrap(), r.unwrap());
        let (da, db) = (data(20_000 + seed as usize, 3), data(15_000, 4));
        let (got_r, got_i) = within(async {
            tokio::join!(
                async {
                    let (mut rd, mut wr) = tokio::io::split(&mut i);
                    let w = async {
                        wr.write_all(&da).await.unwrap();
                        wr.shutdown().await.unwrap();
                    };
                    let rd = async {
                        let mut v = Vec::new();
                        rd.read_to_end(&mut v).await.unwrap();
                        v
                    };
                    tokio::join!(w, rd).1
                },
                async {
                    let (mut rd, mut wr) = tokio::io::split(&mut r);
                    let w = async {
                        wr.write_all(&db).await.unwrap();
                        wr.shutdown().await.unwrap();
                    };
                    let rd = async {
                        let mut v = Vec::new();
                        rd.read_to_end(&mut v).await.unwrap();
                        v
                    };
                    tokio::join!(w, rd).1
                }
            )
        })
        .await;
        assert!(got_r == db && got_i == da, "seed {seed}");
    }
    // and the given-handshake mode
    let (hi, hr) = given();
    let (a, b) = duplex(1000);
    let a = SecretStream::with_handshake(Chaos { inner: a, rng: 77 }, &hi, &Config::default().write_chunk(333));
    let mut b = SecretStream::with_handshake(Chaos { inner: b, rng: 99 }, &hr, &Config::default());
    let payload = data(50_000, 9);
    let send = payload.clone();
    let writer = tokio::spawn(async move {
        let mut a = a;
        a.write_all(&send).await.unwrap();
        a.shutdown().await.unwrap();
        a
    });
    let mut got = Vec::new();
    within(b.read_to_end(&mut got)).await.unwrap();
    assert_eq!(got, payload);
    within(writer).await.unwrap();
}

/// Frames of the largest size both ways at once, through a pipe smaller than a frame.
#[tokio::test]
async fn largest_frames_exchange() {
    let (hi, hr) = given();
    let (a, b) = duplex(64 * 1024);
    let cfg = Config::default().write_chunk(rhizome_secret_stream::MAX_PLAINTEXT_LEN);
    exchange(SecretStream::with_handshake(a, &hi, &cfg), SecretStream::with_handshake(b, &hr, &cfg), (16 << 20) + 1000).await;
}
