//! Deterministic tests of the sans-IO stream over [`crate::sim`].

use std::time::{Duration, Instant};

use super::{CloseReason, Config, Connection};
use crate::header::{HEADER_LEN, Header, flags};
use crate::sim::{Link, Pair, Side};

/// Deterministic pseudo-random payload byte at `i`.
fn byte_at(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Pushes `total` bytes A→B (and B→A when `both`), checks every byte, asserts
/// the memory bound, returns the virtual time taken.
fn transfer(link: Link, total: usize, both: bool) -> (Duration, Pair) {
    transfer_with(Config::default(), link, total, both)
}

fn transfer_with(cfg: Config, link: Link, total: usize, both: bool) -> (Duration, Pair) {
    let bound = cfg.send_buffer + 2 * cfg.recv_window;
    let mut p = Pair::new(cfg, link);
    let start = p.now;
    let mut written = [0usize; 2];
    let mut read = [0usize; 2];
    let mut eof = [false; 2];
    let mut buf = vec![0u8; 64 * 1024];
    let mut chunk = vec![0u8; 64 * 1024];
    let mut steps = 0u64;
    while !(eof[1] && (eof[0] || !both)) {
        steps += 1;
        assert!(steps < 50_000_000, "transfer did not finish");
        for (i, side) in [Side::A, Side::B].into_iter().enumerate() {
            if i == 1 && !both {
                if written[1] == 0 {
                    p.conn(side).finish().unwrap();
                    written[1] = usize::MAX;
                }
                continue;
            }
            while written[i] < total {
                let n = (total - written[i]).min(chunk.len());
                for (k, c) in chunk[..n].iter_mut().enumerate() {
                    *c = byte_at(written[i] + k);
                }
                let w = match p.conn(side).write(&chunk[..n]) {
                    Ok(w) => w,
                    Err(e) => panic!("{e} after {} bytes: {:?} {:?}", read[0], p.a.stats(), p.b.stats()),
                };
                written[i] += w;
                if w < n {
                    break;
                }
            }
            if written[i] == total {
                p.conn(side).finish().unwrap();
                written[i] = usize::MAX;
            }
        }
        for (i, side) in [Side::B, Side::A].into_iter().enumerate() {
            loop {
                match p.conn(side).read(&mut buf).unwrap() {
                    Some(0) => {
                        eof[1 - i] = true;
                        break;
                    }
                    Some(n) => {
                        for (k, b) in buf[..n].iter().enumerate() {
                            assert_eq!(*b, byte_at(read[i] + k), "corrupt byte at {}", read[i] + k);
                        }
                        read[i] += n;
                    }
                    None => break,
                }
            }
        }
        assert!(p.a.buffered_bytes() <= bound && p.b.buffered_bytes() <= bound, "memory bound");
        assert!(p.a.close_reason().is_none_or(|r| r == CloseReason::Finished), "{:?} {:?} read {read:?}", p.a.close_reason(), p.a.stats());
        if !p.step() && !(eof[1] && (eof[0] || !both)) {
            panic!("stalled: a={:?} b={:?}", p.a.stats(), p.b.stats());
        }
    }
    assert_eq!(read[0], total);
    if both {
        assert_eq!(read[1], total);
    }
    for _ in 0..10_000 {
        if !p.step() {
            break;
        }
    }
    (p.now - start, p)
}

const MIB: usize = 1024 * 1024;

#[test]
fn small_transfer_finishes_both_ways() {
    let (_, p) = transfer(Link::default(), 100_000, true);
    assert_eq!(p.a.close_reason(), Some(CloseReason::Finished));
    assert_eq!(p.b.close_reason(), Some(CloseReason::Finished));
    assert!(p.a.mtu() > 1200, "MTU probing started");
}

#[test]
fn sixty_four_mib_lossless() {
    let (t, p) = transfer(Link::default(), 64 * MIB, false);
    assert_eq!(p.a.stats().retransmits, 0);
    assert_eq!(p.a.mtu(), 1500, "MTU probing reached 1500");
    assert!(t < Duration::from_secs(60), "{t:?}");
}

#[test]
fn sixty_four_mib_one_percent_loss_reordered() {
    transfer(Link::lossy(11, 0.01, Duration::from_millis(3)), 64 * MIB, false);
}

#[test]
fn sixty_four_mib_five_percent_loss_reordered() {
    transfer(Link::lossy(12, 0.05, Duration::from_millis(3)), 64 * MIB, false);
}

#[test]
fn sixty_four_mib_twenty_percent_loss_reordered() {
    let (_, p) = transfer(Link::lossy(13, 0.20, Duration::from_millis(3)), 64 * MIB, false);
    assert!(p.a.stats().retransmits > 0);
}

#[test]
fn bidirectional_with_loss_and_bottleneck() {
    let link = Link { rate: Some(10 * MIB as u64), ..Link::lossy(14, 0.02, Duration::from_millis(2)) };
    transfer(link, 4 * MIB, true);
}

fn data_packet(to: u32, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    Header { flags: flags::DATA, data_offset: 0, stream_id: to, rwnd: 1 << 20, seq, ack }.encode_to(&mut d);
    d.extend_from_slice(payload);
    d
}

#[test]
fn rto_backs_off_and_a_stalled_peer_times_out() {
    let now = Instant::now();
    let mut c = Connection::new(1, Config::default(), now);
    c.connect(2, false);
    c.write(b"hello").unwrap();
    let mut out = Vec::new();
    assert!(c.poll_transmit(now, &mut out));
    while c.poll_transmit(now, &mut out) {}
    let mut fires = Vec::new();
    let mut t = now;
    for _ in 0..100 {
        let Some(next) = c.poll_timeout() else { break };
        fires.push(next - t);
        t = next;
        c.handle_timeout(t);
        while c.poll_transmit(t, &mut out) {}
    }
    assert_eq!(c.close_reason(), Some(CloseReason::TimedOut));
    // RTOs at 1, 3, 7, 15, 31 s (doubling from the 1 s floor, a probe half-way
    // through each), death at the 6th expiry: 61 s.
    let total: Duration = fires.iter().sum();
    assert_eq!(c.stats().rto_timeouts, 6, "{fires:?}");
    assert_eq!(total.as_secs(), 61, "{fires:?}");
    let gaps: Vec<u64> = fires.iter().map(|d| d.as_millis() as u64).collect();
    assert!(gaps.iter().max() >= Some(&28_000), "backed off: {gaps:?}");
    assert!(c.write(b"x").is_err());
}

#[test]
fn garbage_and_bogus_packets_are_dropped() {
    let now = Instant::now();
    let mut c = Connection::new(7, Config::default(), now);
    c.connect(9, false);
    for d in [&[][..], &[0xff], &[0xff, 1, 0, 0], &[3u8; 40], &[0xff, 2, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] {
        assert!(c.handle_datagram(now, d).is_err());
    }
    // wrong stream id
    assert!(c.handle_datagram(now, &data_packet(8, 0, 0, b"x")).is_err());
    // ack for data never sent: the ack is ignored, data still taken
    assert!(c.handle_datagram(now, &data_packet(7, 0, 1000, b"a")).is_err());
    // data offset past the end
    let mut d = data_packet(7, 1, 0, b"");
    d[3] = 10;
    assert!(c.handle_datagram(now, &d).is_err());
    // SACK blocks that make no sense
    let mut s = Vec::new();
    Header { flags: flags::SACK, stream_id: 7, ..Header::default() }.encode_to(&mut s);
    for v in [5u32, 2, u32::MAX, 0, 0, 0] {
        s.extend_from_slice(&v.to_le_bytes());
    }
    assert!(c.handle_datagram(now, &s).is_ok());
    // far-future data is dropped, not buffered
    assert!(c.handle_datagram(now, &data_packet(7, 2_000_000_000, 0, &[0; 1000])).is_ok());
    assert_eq!(c.buffered_bytes(), 1);
    let mut buf = [0u8; 4];
    assert_eq!(c.read(&mut buf).unwrap(), Some(1));
    assert_eq!(buf[0], b'a');
    let mut out = Vec::new();
    assert!(c.poll_transmit(now, &mut out));
    let h = Header::decode(&out).unwrap();
    assert_eq!((h.flags, h.stream_id, h.ack), (0, 9, 1));
    assert_eq!(out.len(), HEADER_LEN);
}

#[test]
fn huge_sack_blocks_cost_nothing() {
    let now = Instant::now();
    for in_flight in [0usize, 3] {
        let mut c = Connection::new(7, Config::default(), now);
        c.connect(9, false);
        c.write(&vec![0u8; in_flight * 1152]).unwrap();
        let mut out = Vec::new();
        while c.poll_transmit(now, &mut out) {}
        let mut s = Vec::new();
        Header { flags: flags::SACK, stream_id: 7, ..Header::default() }.encode_to(&mut s);
        for v in [0x10u32, 0x8000_0005, 1, 0x7fff_ffff, 0, u32::MAX] {
            s.extend_from_slice(&v.to_le_bytes());
        }
        let t = Instant::now();
        for _ in 0..1000 {
            let _ = c.handle_datagram(now, &s);
        }
        assert!(t.elapsed() < Duration::from_secs(1), "SACK work is bounded");
    }
}

#[test]
fn destroy_resets_the_peer() {
    let mut p = Pair::new(Config::default(), Link::default());
    p.a.write(b"some").unwrap();
    p.step();
    p.a.destroy();
    for _ in 0..100 {
        if !p.step() {
            break;
        }
    }
    assert_eq!(p.a.close_reason(), Some(CloseReason::Destroyed));
    assert_eq!(p.b.close_reason(), Some(CloseReason::Reset));
}

#[test]
fn zero_window_is_probed_and_recovers() {
    let cfg = Config { recv_window: 64 * 1024, ..Config::default() };
    let mut p = Pair::new(cfg, Link::default());
    let data = vec![7u8; 512 * 1024];
    let mut off = 0;
    for _ in 0..2000 {
        off += p.a.write(&data[off..]).unwrap();
        p.step();
    }
    assert!(p.b.buffered_bytes() <= 2 * 64 * 1024);
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0;
    for _ in 0..100_000 {
        if off < data.len() {
            off += p.a.write(&data[off..]).unwrap();
        }
        if let Ok(Some(n)) = p.b.read(&mut buf) {
            got += n;
        }
        if got == data.len() {
            break;
        }
        p.step();
    }
    assert_eq!(got, data.len());
}

#[test]
fn silent_peer_with_zero_window_times_out() {
    let cfg = Config { max_rto_timeouts: 3, ..Config::default() };
    let mut now = Instant::now();
    let mut c = Connection::new(7, cfg, now);
    c.connect(9, false);
    c.write(&[1u8; 4000]).unwrap();
    let mut out = Vec::new();
    let mut sent = 0u32;
    while c.poll_transmit(now, &mut out) {
        sent += 1;
        out.clear();
    }
    // The peer acks everything, closes its window, then dies.
    let mut ack = Vec::new();
    Header { flags: 0, stream_id: 7, rwnd: 0, seq: 0, ack: sent, data_offset: 0 }.encode_to(&mut ack);
    c.handle_datagram(now, &ack).unwrap();
    c.write(&[2u8; 4000]).unwrap();
    for _ in 0..1000 {
        while c.poll_transmit(now, &mut out) {
            out.clear();
        }
        if c.close_reason().is_some() {
            break;
        }
        let Some(at) = c.poll_timeout() else { break };
        now = at.max(now);
        c.handle_timeout(now);
    }
    assert_eq!(c.close_reason(), Some(CloseReason::TimedOut));
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Arbitrary datagrams (random, or valid headers with random fields and
        /// SACK blocks) into a stream with data in flight: never a panic, memory
        /// stays bounded, and the stream still answers.
        #[test]
        fn hostile_datagrams_never_panic(
            raw in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
            hdrs in proptest::collection::vec(
                (any::<u8>(), any::<u8>(), any::<u32>(), 0u32..40, 0u32..40,
                 proptest::collection::vec(any::<u32>(), 0..12), 0usize..1500),
                0..40),
        ) {
            let cfg = Config::default();
            let bound = cfg.send_buffer + 2 * cfg.recv_window;
            let mut now = Instant::now();
            let mut c = Connection::new(7, cfg, now);
            c.connect(9, false);
            c.write(&[1u8; 20_000]).unwrap();
            let mut out = Vec::new();
            while c.poll_transmit(now, &mut out) {}
            for d in raw {
                let _ = c.handle_datagram(now, &d);
            }
            for (f, off, rwnd, seq, ack, sacks, len) in hdrs {
                let mut d = Vec::new();
                Header { flags: f, data_offset: off, stream_id: 7, rwnd, seq, ack }.encode_to(&mut d);
                for s in sacks {
                    let v = if s & 1 == 1 { s % 64 } else { s };
                    d.extend_from_slice(&v.to_le_bytes());
                }
                d.resize(d.len() + len, 0xAB);
                let _ = c.handle_datagram(now, &d);
                now += Duration::from_millis(3);
                c.handle_timeout(now);
                for _ in 0..10_000 {
                    if !c.poll_transmit(now, &mut out) {
                        break;
                    }
                }
                prop_assert!(c.buffered_bytes() <= bound);
            }
            let mut buf = vec![0u8; 1 << 16];
            let _ = c.read(&mut buf);
        }
    }
}

#[test]
fn unacked_end_after_the_peer_finished_is_not_a_timeout() {
    let t0 = Instant::now();
    let mut c = Connection::new(1, Config::default(), t0);
    c.connect(2, false);
    c.write(b"data").unwrap();
    c.finish().unwrap();
    let mut out = Vec::new();
    let mut sent = Vec::new();
    while c.poll_transmit(t0, &mut out) {
        sent.push(Header::decode(&out).unwrap());
    }
    assert_eq!(sent.iter().map(|h| h.flags).collect::<Vec<_>>(), [flags::DATA, flags::END], "END goes alone");
    // the peer acks the data (not the END), sends its own END, then goes away
    let mut d = Vec::new();
    Header { flags: flags::END, stream_id: 1, rwnd: 1 << 20, seq: 0, ack: 1, ..Header::default() }.encode_to(&mut d);
    c.handle_datagram(t0, &d).unwrap();
    let mut now = t0;
    for _ in 0..20 {
        let Some(t) = c.poll_timeout() else { break };
        now = t;
        c.handle_timeout(now);
        while c.poll_transmit(now, &mut out) {}
    }
    assert_eq!(c.close_reason(), Some(CloseReason::Finished));
    assert!(now - t0 < Duration::from_secs(3), "{:?}", now - t0);
}
