use std::task::Waker;

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::config::MAX_FRAME_BODY;

fn limits() -> Limits {
    Limits { max_streams: 8, max_stream_window: MAX_FRAME_BODY }
}

fn wire(frames: &[(Header, &[u8])]) -> BytesMut {
    let mut b = BytesMut::new();
    for (h, body) in frames {
        b.extend_from_slice(&h.encode());
        b.extend_from_slice(body);
    }
    b
}

fn controls(s: &mut Session) -> Vec<Header> {
    std::iter::from_fn(|| s.next_control()).collect()
}

fn data(flags: u16, id: u32, body: &[u8]) -> (Header, &[u8]) {
    (Header::new(FrameType::Data, flags, id, body.len() as u32), body)
}

fn read_all(s: &mut Session, id: u32) -> (Vec<u8>, ReadOutcome) {
    let mut out = vec![0u8; 4 * 1024 * 1024];
    let mut rb = tokio::io::ReadBuf::new(&mut out);
    let got = s.read(id, &mut rb, Waker::noop());
    let n = rb.filled().len();
    out.truncate(n);
    (out, got)
}

#[test]
fn an_inbound_stream_delivers_data_fin_and_acks_on_its_own_frame() {
    let mut s = Session::new(false, limits());
    let mut b = wire(&[data(flags::SYN, 1, b"hello"), data(flags::FIN, 1, b" world")]);
    assert_eq!(s.receive(&mut b), Ok(Received::default()));
    assert!(b.is_empty());
    assert_eq!(s.next_accepted(), Some(1));
    let (got, outcome) = read_all(&mut s, 1);
    assert_eq!(got, b"hello world");
    assert_eq!(outcome, ReadOutcome::Data(11));
    assert_eq!(read_all(&mut s, 1).1, ReadOutcome::Eof);
    // Closing our side: the ACK goes on a frame of its own, then FIN (py-libp2p).
    s.close(1).unwrap();
    let c = controls(&mut s);
    assert_eq!(c, vec![Header::new(FrameType::WindowUpdate, flags::ACK, 1, 0), Header::new(FrameType::Data, flags::FIN, 1, 0)]);
    s.drop_stream(1);
    assert_eq!(s.stream_count(), 0);
    assert!(controls(&mut s).is_empty());
}

#[test]
fn frames_split_anywhere_parse_the_same() {
    let body: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let all = wire(&[data(flags::SYN, 1, &body), data(0, 1, b"xyz")]);
    for cut in [1, 5, 12, 13, 100, 4999, 5012, 5013] {
        let mut s = Session::new(false, limits());
        let mut first = BytesMut::from(&all[..cut]);
        s.receive(&mut first).unwrap();
        let mut rest = first;
        rest.extend_from_slice(&all[cut..]);
        s.receive(&mut rest).unwrap();
        let (got, _) = read_all(&mut s, 1);
        assert_eq!(got.len(), 5003, "cut at {cut}");
        assert_eq!(&got[..5000], &body[..]);
    }
}

#[test]
fn violations() {
    let cases: Vec<(BytesMut, Violation)> = vec![
        (wire(&[(Header::new(FrameType::Data, flags::SYN, 1, 2 * 1024 * 1024), &[])]), Violation::FrameTooLarge(2 * 1024 * 1024)),
        (wire(&[data(flags::SYN, 2, b"x")]), Violation::BadStreamId(2)),
        (wire(&[data(flags::SYN, 0, b"x")]), Violation::BadStreamId(0)),
        (wire(&[data(flags::SYN, 1, b"x"), data(flags::SYN, 1, b"x")]), Violation::BadStreamId(1)),
        (
            wire(&[
                (Header::new(FrameType::WindowUpdate, flags::SYN, 1, 0), &[]),
                (Header::new(FrameType::WindowUpdate, 0, 1, u32::MAX), &[]),
            ]),
            Violation::WindowOverflow(1),
        ),
        (BytesMut::from(&[1u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..]), Violation::Header(HeaderError::Version(1))),
    ];
    for (mut b, want) in cases {
        let mut s = Session::new(false, limits());
        assert_eq!(s.receive(&mut b), Err(want));
    }
    // Beyond the 256 KiB window.
    let mut s = Session::new(false, limits());
    let big = vec![0u8; INITIAL_WINDOW];
    let mut b = wire(&[data(flags::SYN, 1, &big), data(0, 1, b"!")]);
    assert_eq!(s.receive(&mut b), Err(Violation::WindowExceeded(1)));
}

#[test]
fn pings_are_answered_and_go_away_reported() {
    let mut s = Session::new(true, limits());
    let mut b =
        wire(&[(Header::new(FrameType::Ping, flags::SYN, 0, 0xdead_beef), &[]), (Header::new(FrameType::Ping, flags::ACK, 0, 5), &[])]);
    s.receive(&mut b).unwrap();
    assert_eq!(controls(&mut s), vec![Header::new(FrameType::Ping, flags::ACK, 0, 0xdead_beef)]);
    let mut b = wire(&[(Header::new(FrameType::GoAway, 0, 0, go_away::PROTOCOL_ERROR), &[])]);
    assert_eq!(s.receive(&mut b).unwrap().go_away, Some(1));
    // A ping flood gets a bounded number of answers.
    let mut flood = BytesMut::new();
    for i in 0..(MAX_PEER_CONTROL as u32 + 100) {
        flood.extend_from_slice(&Header::new(FrameType::Ping, flags::SYN, 0, i).encode());
    }
    s.receive(&mut flood).unwrap();
    assert_eq!(controls(&mut s).len(), MAX_PEER_CONTROL);
}

#[test]
fn syns_beyond_max_streams_are_reset_and_data_for_unknown_streams_ignored() {
    let mut s = Session::new(false, Limits { max_streams: 2, ..limits() });
    let mut b = wire(&[data(flags::SYN, 1, b"a"), data(flags::SYN, 3, b"b"), data(flags::SYN, 5, b"c"), data(0, 99, b"zz")]);
    s.receive(&mut b).unwrap();
    assert_eq!(s.stream_count(), 2);
    assert_eq!(controls(&mut s), vec![Header::new(FrameType::WindowUpdate, flags::RST, 5, 0)]);
    // Our own opens fail at the limit too.
    assert_eq!(s.open(), Err(OpenError::TooManyStreams));
}

#[test]
fn outbound_streams_syn_lazily_and_wait_for_acks_beyond_the_backlog() {
    let mut s = Session::new(true, Limits { max_streams: 1024, ..limits() });
    let id = s.open().unwrap().unwrap();
    assert_eq!(id, 1);
    let h = s.plan_send(id, 100, Waker::noop()).unwrap().unwrap();
    assert_eq!(h, Header::new(FrameType::Data, flags::SYN, 1, 100));
    let h = s.plan_send(id, 100, Waker::noop()).unwrap().unwrap();
    assert_eq!(h.flags, 0);
    for _ in 1..ACK_BACKLOG {
        assert!(s.open().unwrap().is_some());
    }
    assert_eq!(s.open(), Ok(None));
    let mut b = wire(&[(Header::new(FrameType::WindowUpdate, flags::ACK, 1, 0), &[])]);
    s.receive(&mut b).unwrap();
    assert_eq!(s.open().unwrap(), Some(2 * ACK_BACKLOG as u32 + 1));
    // A stream dropped before it sent anything leaves no trace on the wire.
    s.drop_stream(3);
    assert!(controls(&mut s).is_empty());
}

#[test]
fn send_window_blocks_and_window_updates_release_it() {
    let mut s = Session::new(true, limits());
    let id = s.open().unwrap().unwrap();
    let mut sent = 0;
    while let Some(h) = s.plan_send(id, 65507, Waker::noop()).unwrap() {
        sent += h.length as usize;
    }
    assert_eq!(sent, INITIAL_WINDOW);
    let mut b = wire(&[(Header::new(FrameType::WindowUpdate, flags::ACK, id, 1000), &[])]);
    s.receive(&mut b).unwrap();
    assert_eq!(s.plan_send(id, 65507, Waker::noop()).unwrap().map(|h| h.length), Some(1000));
}

#[test]
fn receive_window_updates_at_half_and_grows_up_to_the_cap() {
    let mut s = Session::new(false, limits());
    let chunk = vec![1u8; 65536];
    let mut granted = INITIAL_WINDOW;
    let mut received = 0;
    let mut b = wire(&[(Header::new(FrameType::WindowUpdate, flags::SYN, 1, 0), &[])]);
    s.receive(&mut b).unwrap();
    let mut max_update = 0;
    for _ in 0..200 {
        // The remote sends all it may, the application reads everything.
        while received + chunk.len() <= granted {
            let mut b = wire(&[data(0, 1, &chunk)]);
            s.receive(&mut b).unwrap();
            received += chunk.len();
        }
        read_all(&mut s, 1);
        for h in controls(&mut s) {
            assert_eq!(h.ty, FrameType::WindowUpdate);
            granted += h.length as usize;
            max_update = max_update.max(h.length as usize);
        }
        assert!(granted - received <= MAX_FRAME_BODY, "granted beyond 1 MiB");
    }
    assert!(max_update > INITIAL_WINDOW, "the window never grew");
    // Only one stream may grow: a second one stays at 256 KiB.
    let mut b = wire(&[data(flags::SYN, 3, &vec![0u8; INITIAL_WINDOW])]);
    s.receive(&mut b).unwrap();
    read_all(&mut s, 3);
    let c: Vec<Header> = controls(&mut s).into_iter().filter(|h| h.stream == 3).collect();
    assert_eq!(c.iter().map(|h| h.length as usize).sum::<usize>(), INITIAL_WINDOW);
}

/// Feeds stream 1 of `s` (already opened) as fast as its window allows while the
/// application reads everything, `rounds` times; returns the window granted.
fn pump(s: &mut Session, id: u32, rounds: usize) -> usize {
    let chunk = vec![1u8; 65536];
    let (mut granted, mut received) = (INITIAL_WINDOW, 0);
    for _ in 0..rounds {
        while received + chunk.len() <= granted {
            let mut b = wire(&[data(0, id, &chunk)]);
            s.receive(&mut b).unwrap();
            received += chunk.len();
        }
        read_all(s, id);
        for h in controls(s) {
            if h.stream == id {
                granted += h.length as usize;
            }
        }
    }
    granted - received
}

#[test]
fn window_growth_comes_from_the_shared_pool_and_goes_back() {
    let pool = Arc::new(WindowPool::new(4 * 1024 * 1024));
    let big = Limits { max_streams: 8, max_stream_window: MAX_STREAM_WINDOW };
    let mut a = Session::new(false, big).with_pool(pool.clone());
    let mut b = Session::new(false, big).with_pool(pool.clone());
    for s in [&mut a, &mut b] {
        let mut w = wire(&[(Header::new(FrameType::WindowUpdate, flags::SYN, 1, 0), &[])]);
        s.receive(&mut w).unwrap();
    }
    // A reading stream grows past 1 MiB, but only by what the pool holds.
    let window = pump(&mut a, 1, 100);
    assert!(window > MAX_FRAME_BODY, "window stayed at {window}");
    assert!(window <= INITIAL_WINDOW + pool.size(), "window {window} beyond the pool");
    assert_eq!(pool.available(), 0);
    // The other connection's stream cannot grow while the pool is spent.
    assert_eq!(pump(&mut b, 1, 20), INITIAL_WINDOW);
    // A finished stream gives its growth back; a dropped session too.
    a.drop_stream(1);
    assert_eq!(pool.available(), pool.size());
    let grown = pump(&mut b, 1, 100);
    assert!(grown > MAX_FRAME_BODY);
    drop(b);
    assert_eq!(pool.available(), pool.size());
}

#[test]
fn tiny_frames_are_coalesced() {
    let mut s = Session::new(false, limits());
    let mut b = wire(&[(Header::new(FrameType::WindowUpdate, flags::SYN, 1, 0), &[])]);
    for _ in 0..10_000 {
        b.extend_from_slice(&Header::new(FrameType::Data, 0, 1, 1).encode());
        b.extend_from_slice(b"x");
    }
    s.receive(&mut b).unwrap();
    let st = s.streams.get(&1).unwrap();
    assert!(st.queue_len() < 10, "{} chunks", st.queue_len());
    // Large bodies each followed by small ones: the small ones are not appended to the
    // large slice (that would copy it), but two small neighbours still merge.
    let mut s = Session::new(false, limits());
    let mut b = wire(&[(Header::new(FrameType::WindowUpdate, flags::SYN, 1, 0), &[])]);
    let big = vec![7u8; 20_000];
    for _ in 0..4 {
        b.extend_from_slice(&wire(&[data(0, 1, &big), data(0, 1, b"ab"), data(0, 1, b"cd")]));
    }
    s.receive(&mut b).unwrap();
    assert_eq!(s.streams.get(&1).unwrap().queue_len(), 8);
    let (got, _) = read_all(&mut s, 1);
    assert_eq!(got.len(), 4 * (20_000 + 4));
    assert_eq!(&got[20_000..20_004], b"abcd");
}

#[test]
fn a_remote_reset_fails_reads_and_writes() {
    let mut s = Session::new(false, limits());
    let mut b = wire(&[data(flags::SYN, 1, b"ab"), data(flags::RST, 1, b"")]);
    s.receive(&mut b).unwrap();
    assert_eq!(read_all(&mut s, 1).0, b"ab");
    assert_eq!(read_all(&mut s, 1).1, ReadOutcome::Reset);
    assert_eq!(s.plan_send(1, 10, Waker::noop()), Err(SendError::Reset));
    s.drop_stream(1);
    assert!(controls(&mut s).is_empty(), "no RST answers a RST");
}

fn arb_header() -> impl Strategy<Value = (u8, u16, u32, u32)> {
    (0u8..5, 0u16..16, prop_oneof![0u32..8, any::<u32>()], prop_oneof![0u32..70_000, any::<u32>()])
}

proptest! {
    /// Arbitrary frames never panic the session, and what it buffers stays within
    /// what it granted.
    #[test]
    fn arbitrary_frames(frames in proptest::collection::vec((arb_header(), 0usize..3000, any::<bool>()), 0..40)) {
        let mut s = Session::new(false, limits());
        let mut buf = BytesMut::new();
        for ((ty, fl, id, len), body, read) in frames {
            let mut raw = [0u8; HEADER_LEN];
            raw[1] = ty;
            raw[2..4].copy_from_slice(&fl.to_be_bytes());
            raw[4..8].copy_from_slice(&id.to_be_bytes());
            let len = if ty == 0 { body as u32 } else { len };
            raw[8..12].copy_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(&raw);
            if ty == 0 {
                buf.extend_from_slice(&vec![7u8; body]);
            }
            match s.receive(&mut buf) {
                Ok(r) if r.go_away.is_some() => break,
                Ok(_) => {}
                Err(_) => break,
            }
            while let Some(a) = s.next_accepted() {
                if read { read_all(&mut s, a); } else { s.drop_stream(a); }
            }
            for st in s.streams.values() {
                prop_assert!(st.buffered() <= MAX_FRAME_BODY);
            }
            let _ = controls(&mut s);
        }
    }
}

#[test]
fn dropping_a_stream_we_closed_sends_nothing_and_later_frames_are_ignored() {
    let mut s = Session::new(false, limits());
    let mut b = wire(&[data(flags::SYN, 1, b"n")]);
    s.receive(&mut b).unwrap();
    let _ = s.next_accepted();
    s.close(1).unwrap();
    assert_eq!(controls(&mut s).len(), 2); // ACK, FIN
    s.drop_stream(1);
    assert!(controls(&mut s).is_empty());
    // The remote's FIN and data for the forgotten stream are ignored.
    let mut b = wire(&[data(0, 1, b"late"), data(flags::FIN, 1, b"")]);
    assert_eq!(s.receive(&mut b), Ok(Received::default()));
    assert!(controls(&mut s).is_empty());
    // A stream dropped while open is reset (after its ACK, on frames of their own).
    let mut b = wire(&[data(flags::SYN, 3, b"x")]);
    s.receive(&mut b).unwrap();
    s.drop_stream(3);
    assert_eq!(
        controls(&mut s),
        vec![Header::new(FrameType::WindowUpdate, flags::ACK, 3, 0), Header::new(FrameType::Data, flags::RST, 3, 0)]
    );
}
