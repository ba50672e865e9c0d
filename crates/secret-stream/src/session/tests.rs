use crypto_secretstream::{Header, Key, PullStream, Tag};
use data_encoding::HEXLOWER;
use proptest::prelude::*;
use zeroize::Zeroizing;

use super::*;

fn unhex(s: &str) -> Vec<u8> {
    HEXLOWER.decode(s.as_bytes()).unwrap()
}

fn vectors() -> (serde_json::Value, serde_json::Value) {
    let xx = serde_json::from_str(include_str!("../../tests/vectors/noise-xx.json")).unwrap();
    let ss = serde_json::from_str(include_str!("../../tests/vectors/secret-stream.json")).unwrap();
    (xx, ss)
}

fn key32(v: &serde_json::Value, k: &str) -> [u8; 32] {
    unhex(v[k].as_str().unwrap()).try_into().unwrap()
}

/// The XX vector's handshake, from one side.
fn result(initiator: bool) -> HandshakeResult {
    let (xx, _) = vectors();
    let (tx, rx, pk, rpk) = if initiator {
        ("initiatorTx", "initiatorRx", "initiatorStatic", "responderStatic")
    } else {
        ("responderTx", "responderRx", "responderStatic", "initiatorStatic")
    };
    HandshakeResult {
        is_initiator: initiator,
        tx: Zeroizing::new(key32(&xx, tx)),
        rx: Zeroizing::new(key32(&xx, rx)),
        hash: unhex(xx["hash"].as_str().unwrap()).try_into().unwrap(),
        public_key: key32(&xx, pk),
        remote_public_key: key32(&xx, rpk),
    }
}

/// An RNG that yields fixed bytes: reproduces a captured secretstream header.
pub(crate) struct FixedRng(pub(crate) Vec<u8>);
impl rand_core_06::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        unreachable!()
    }
    fn next_u64(&mut self) -> u64 {
        unreachable!()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.copy_from_slice(&self.0[..dest.len()]);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core_06::CryptoRng for FixedRng {}

fn feed(session: &mut Session, mut wire: &[u8]) -> Result<Vec<Incoming>, StreamError> {
    let mut got = Vec::new();
    while !wire.is_empty() {
        let (used, inc) = session.decode(wire)?;
        wire = &wire[used..];
        got.extend(inc);
    }
    Ok(got)
}

#[test]
fn decrypts_node_capture() {
    let (_, ss) = vectors();
    let wire: Vec<u8> = ss["writes"].as_array().unwrap().iter().flat_map(|w| unhex(w.as_str().unwrap())).collect();
    let mut responder = Session::new(&result(false), MAX_FRAME_LEN);
    let got = feed(&mut responder, &wire).unwrap();
    let pts: Vec<Vec<u8>> = ss["plaintexts"].as_array().unwrap().iter().map(|p| unhex(p.as_str().unwrap())).collect();
    assert_eq!(got[0], Incoming::Header);
    assert_eq!(got[1], Incoming::Message(pts[0].clone()));
    assert_eq!(got[2], Incoming::KeepAlive);
    assert_eq!(got[3], Incoming::Message(pts[2].clone()));
    assert_eq!(got[4], Incoming::Message(pts[3].clone()));
    assert_eq!(got.len(), 5);
}

#[test]
fn encrypts_like_node() {
    let (_, ss) = vectors();
    let writes: Vec<Vec<u8>> = ss["writes"].as_array().unwrap().iter().map(|w| unhex(w.as_str().unwrap())).collect();
    let header = writes[0][35..].to_vec();
    assert_eq!(HEXLOWER.encode(&writes[0][3..35]), ss["streamIdInitiator"].as_str().unwrap());
    let mut ours = Session::with_rng(&result(true), MAX_FRAME_LEN, FixedRng(header));
    assert_eq!(ours.take_header().unwrap().to_vec(), writes[0]);
    let mut out = Vec::new();
    for (pt, expected) in [b"hello".to_vec(), vec![]].iter().zip(&writes[1..3]) {
        out.clear();
        ours.encrypt(pt, &mut out).unwrap();
        assert_eq!(&out, expected);
    }
    let big: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    out.clear();
    ours.encrypt(&big, &mut out).unwrap();
    assert_eq!(out, writes[3]);
}

#[test]
fn pull_rekeys_on_rekey_tag_like_libsodium() {
    let (_, ss) = vectors();
    let r = &ss["rekey"];
    let header = Header::try_from(unhex(r["header"].as_str().unwrap()).as_slice()).unwrap();
    let key: [u8; 32] = unhex(r["key"].as_str().unwrap()).try_into().unwrap();
    let mut ours = crate::secretstream::State::new(&key, header.as_ref());
    let mut pull = PullStream::init(header, &Key::from(key));
    let tags: Vec<Tag> = r["frames"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["plaintexts"].as_array().unwrap())
        .map(|(f, p)| {
            let mut buf = unhex(f.as_str().unwrap());
            let mut in_place = buf.clone();
            let tag = pull.pull(&mut buf, &[]).unwrap();
            assert_eq!(buf, p.as_str().unwrap().as_bytes());
            assert_eq!(ours.pull_in_place(&mut in_place), Ok(tag as u8));
            assert_eq!(&in_place[1..in_place.len() - 16], p.as_str().unwrap().as_bytes());
            tag
        })
        .collect();
    assert_eq!(tags, [Tag::Message, Tag::Rekey, Tag::Message]);
}

fn connected() -> (Session, Session, Vec<u8>, Vec<u8>) {
    let mut a = Session::new(&result(true), MAX_FRAME_LEN);
    let mut b = Session::new(&result(false), MAX_FRAME_LEN);
    let (ha, hb) = (a.take_header().unwrap().to_vec(), b.take_header().unwrap().to_vec());
    (a, b, ha, hb)
}

#[test]
fn tampered_frame_is_bad_mac_and_closes() {
    let (mut a, mut b, ha, _) = connected();
    assert_eq!(feed(&mut b, &ha).unwrap(), [Incoming::Header]);
    let mut frame = Vec::new();
    a.encrypt(b"secret", &mut frame).unwrap();
    let last = frame.len() - 1;
    frame[last] ^= 0x80;
    assert!(matches!(feed(&mut b, &frame), Err(StreamError::BadMac(_))));
    assert!(matches!(b.decode(&[0]), Err(StreamError::Closed)));
}

#[test]
fn replayed_frame_is_bad_mac() {
    let (mut a, mut b, ha, _) = connected();
    feed(&mut b, &ha).unwrap();
    let mut frame = Vec::new();
    a.encrypt(b"once", &mut frame).unwrap();
    feed(&mut b, &frame).unwrap();
    assert!(matches!(feed(&mut b, &frame), Err(StreamError::BadMac(_))));
}

#[test]
fn header_checks() {
    let (_, mut b, mut ha, hb) = connected();
    // our own header reflected back: wrong role's stream id
    assert!(matches!(feed(&mut Session::new(&result(true), MAX_FRAME_LEN), &ha), Err(StreamError::BadStreamId)));
    let _ = hb;
    ha[10] ^= 1;
    assert!(matches!(feed(&mut b, &ha), Err(StreamError::BadStreamId)));
    let mut b = Session::new(&result(false), MAX_FRAME_LEN);
    assert!(feed(&mut b, &[0x37, 0, 0]).is_ok());
    assert!(matches!(feed(&mut b, &[0u8; 55]), Err(StreamError::BadHeaderLength { len: 55 })));
}

#[test]
fn short_and_oversize_frames() {
    let (_, mut b, ha, _) = connected();
    feed(&mut b, &ha).unwrap();
    assert!(matches!(feed(&mut b, &[16, 0, 0]).and_then(|_| feed(&mut b, &[0u8; 16])), Err(StreamError::MessageTooShort { len: 16 })));
    let mut small = Session::new(&result(false), 1000);
    assert!(matches!(feed(&mut small, &[0xe9, 0x03, 0]), Err(StreamError::FrameTooLarge { len: 1001, max: 1000 })));
    let mut out = Vec::new();
    let mut small = Session::new(&result(false), 1000);
    assert!(matches!(small.encrypt(&vec![0; MAX_PLAINTEXT_LEN + 1], &mut out), Err(StreamError::PlaintextTooLarge { .. })));
}

proptest! {
    #[test]
    fn round_trip_any_chunking(msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..2000), 0..12), chunk in 1usize..700) {
        let (mut a, mut b, ha, _) = connected();
        let mut wire = ha;
        for m in &msgs { a.encrypt(m, &mut wire).unwrap(); }
        let mut got = Vec::new();
        for c in wire.chunks(chunk) { got.extend(feed(&mut b, c).unwrap()); }
        prop_assert_eq!(got.remove(0), Incoming::Header);
        let want: Vec<Incoming> = msgs.into_iter().map(|m| if m.is_empty() { Incoming::KeepAlive } else { Incoming::Message(m) }).collect();
        prop_assert_eq!(got, want);
        prop_assert!(b.is_idle());
    }

    #[test]
    fn garbage_never_panics(garbage in proptest::collection::vec(any::<u8>(), 0..3000), after_header in any::<bool>()) {
        let (_, mut b, ha, _) = connected();
        if after_header { feed(&mut b, &ha).unwrap(); }
        let _ = feed(&mut b, &garbage);
    }
}
