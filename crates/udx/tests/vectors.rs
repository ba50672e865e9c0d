//! Byte-for-byte vectors captured from udx-native 1.21.3 with
//! `interop-tests/hyperswarm/udx-capture.mjs` (also listed in specs/udx.md):
//! our sans-IO stream, fed the same packets, must send the same bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rhizome_udx::header::{Header, Packet, flags};
use rhizome_udx::proto::{Config, Connection};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// What udx-native (stream 1, peer stream 2) sent, in order.
const DATA_HELLO: &str = "ff0101000200000000004000000000000000000068656c6c6f";
const ACK_AFTER_DATA: &str = "ff01000002000000000040000100000001000000";
const SACK_AFTER_GAP: &str = "ff010400020000000000400001000000010000000200000003000000";
const SACK_TWO_BLOCKS: &str = "ff0104000200000000004000010000000100000002000000030000000400000005000000";
const ACK_GAP_FILLED: &str = "ff010400020000000000400001000000030000000400000005000000";
const ACK_FOR_HEARTBEAT: &str = ACK_GAP_FILLED;
const END: &str = "ff01020002000000000040000100000003000000";
const DESTROY: &str = "ff01100002000000000040000200000003000000";

/// The packets the capture script's fake peer sent to stream 1.
fn peer(ty: u8, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    Header { flags: ty, data_offset: 0, stream_id: 1, rwnd: 4_194_304, seq, ack }.encode_to(&mut d);
    d.extend_from_slice(payload);
    d
}

/// Reads what arrived (libudx hands data to JS before it acks, so its rwnd never
/// counts it), then collects what the stream sends.
fn drain(c: &mut Connection, now: Instant) -> Vec<String> {
    let mut buf = [0u8; 64];
    while let Ok(Some(n)) = c.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    let mut out = Vec::new();
    let mut v = Vec::new();
    while c.poll_transmit(now, &mut v) {
        out.push(v.iter().map(|b| format!("{b:02x}")).collect());
    }
    out
}

#[test]
fn same_bytes_as_udx_native() {
    let t0 = Instant::now();
    let now = t0 + Duration::from_millis(1);
    let mut c = Connection::new(1, Config::default(), t0);
    c.connect(2, false);
    c.write(b"hello").unwrap();
    assert_eq!(drain(&mut c, now), [DATA_HELLO]);
    c.handle_datagram(now, &peer(0, 0, 1, b"")).unwrap();
    assert!(drain(&mut c, now).is_empty(), "a pure ACK is not acked");
    let steps: [(Vec<u8>, &str); 5] = [
        (peer(flags::DATA, 0, 1, b"hi"), ACK_AFTER_DATA),
        (peer(flags::DATA, 2, 1, b"later"), SACK_AFTER_GAP),
        (peer(flags::DATA, 4, 1, b"more"), SACK_TWO_BLOCKS),
        (peer(flags::DATA, 1, 1, b"gap"), ACK_GAP_FILLED),
        (peer(flags::HEARTBEAT, 5, 1, b""), ACK_FOR_HEARTBEAT),
    ];
    for (input, want) in steps {
        c.handle_datagram(now, &input).unwrap();
        assert_eq!(drain(&mut c, now), [want]);
    }
    c.finish().unwrap();
    assert_eq!(drain(&mut c, now), [END]);
    c.handle_datagram(now, &peer(0, 5, 2, b"")).unwrap();
    c.destroy();
    assert_eq!(drain(&mut c, now), [DESTROY]);
}

#[test]
fn vectors_decode_as_documented() {
    let p = unhex(SACK_TWO_BLOCKS);
    let pkt = Packet::decode(&p).unwrap();
    assert_eq!(pkt.header.flags, flags::SACK);
    assert_eq!((pkt.header.stream_id, pkt.header.rwnd), (2, 4 * 1024 * 1024));
    assert_eq!((pkt.header.seq, pkt.header.ack), (1, 1));
    assert_eq!(pkt.sack_blocks().collect::<Vec<_>>(), [(2, 3), (4, 5)]);
    let d = unhex(DATA_HELLO);
    let pkt = Packet::decode(&d).unwrap();
    assert_eq!(pkt.payload, b"hello");
    assert_eq!(Header::decode(&unhex(DESTROY)).unwrap().flags, flags::DESTROY);
    assert_eq!(Header::decode(&unhex(END)).unwrap().flags, flags::END);
    // digest 8.5: the first captured UDX packets of a real Hyperswarm connection
    let ack = unhex("ff01000061cf4c71000040000000000001000000");
    let h = Header::decode(&ack).unwrap();
    assert_eq!((h.flags, h.stream_id, h.rwnd, h.seq, h.ack), (0, 0x714c_cf61, 4_194_304, 0, 1));
    let mut again = Vec::new();
    h.encode_to(&mut again);
    assert_eq!(again, ack);
}
