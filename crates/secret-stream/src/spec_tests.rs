//! Checks every vector in `specs/secret-stream.md` against this implementation.

use std::collections::BTreeMap;

use crypto_secretstream::{Header, Key, PullStream, Tag};
use data_encoding::HEXLOWER;

use crate::crypto::{NS_INITIATOR, NS_PEER_HANDSHAKE, NS_RESPONDER, NS_SEND, namespace, stream_id};
use crate::noise::{Handshake, Pattern};
use crate::session::tests::FixedRng;
use crate::{Keypair, MAX_FRAME_LEN, Session};

const SPEC: &str = include_str!("../../../specs/secret-stream.md");

fn parse_spec() -> BTreeMap<String, Vec<u8>> {
    let block = SPEC.split("```vectors\n").nth(1).and_then(|rest| rest.split("```").next()).expect("vectors block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once(" = ").expect("name = hex");
            (k.to_string(), HEXLOWER.decode(v.trim().as_bytes()).expect("hex"))
        })
        .collect()
}

/// Runs a handshake with the spec's fixed keys; returns (initial h, messages, final result).
fn handshake(pattern: Pattern, prologue: &[u8], payloads: [&[u8]; 3]) -> (Vec<u8>, Vec<Vec<u8>>, crate::noise::HandshakeResult) {
    let (is, rs) = (Keypair::from_seed(&[0xbb; 32]), Keypair::from_seed(&[0xaa; 32]));
    let remote = rs.public_key();
    let mut i = Handshake::new(pattern, true, is, prologue, Some(remote)).unwrap();
    let mut r = Handshake::new(pattern, false, rs, prologue, None).unwrap();
    i.set_ephemeral_for_tests(Keypair::from_seed(&[0x01; 32]));
    r.set_ephemeral_for_tests(Keypair::from_seed(&[0x02; 32]));
    let h0 = i.hash().to_vec();
    let mut msgs = Vec::new();
    let (mut a, mut b) = (&mut i, &mut r);
    while !a.is_finished() {
        if !a.is_write_turn() {
            std::mem::swap(&mut a, &mut b);
        }
        let m = a.write_message(payloads[msgs.len()]).unwrap();
        assert_eq!(b.read_message(&m).unwrap(), payloads[msgs.len()]);
        msgs.push(m);
    }
    (h0, msgs, i.finish().unwrap())
}

#[test]
fn spec_vectors() {
    let v = parse_spec();
    let get = |k: &str| v.get(k).unwrap_or_else(|| panic!("{k} missing from the spec")).clone();
    let mut ours: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    ours.insert("ns_initiator", namespace(b"hyperswarm/secret-stream", 0).to_vec());
    ours.insert("ns_responder", namespace(b"hyperswarm/secret-stream", 1).to_vec());
    ours.insert("ns_send", namespace(b"hyperswarm/secret-stream", 2).to_vec());
    ours.insert("ns_peer_handshake", namespace(b"hyperswarm/dht", 0).to_vec());
    assert_eq!(
        (NS_INITIATOR, NS_RESPONDER, NS_SEND),
        (namespace(b"hyperswarm/secret-stream", 0), namespace(b"hyperswarm/secret-stream", 1), namespace(b"hyperswarm/secret-stream", 2))
    );
    assert_eq!(NS_PEER_HANDSHAKE.to_vec(), ours["ns_peer_handshake"]);
    for (name, seed) in [("pk_seed_aa", 0xaa), ("pk_seed_bb", 0xbb), ("pk_seed_01", 0x01), ("pk_seed_02", 0x02)] {
        ours.insert(name, Keypair::from_seed(&[seed; 32]).public_key().to_vec());
    }
    let pk_aa = Keypair::from_seed(&[0xaa; 32]).public_key();
    ours.insert("dh_seed_01_pk_aa", crate::noise::dh_for_tests(&[0x01; 32], &pk_aa).to_vec());

    let (p1, p2) = (get("ik_payload1"), get("ik_payload2"));
    ours.insert("ik_payload1", p1.clone());
    ours.insert("ik_payload2", p2.clone());
    let (h0, msgs, ik) = handshake(Pattern::Ik, &NS_PEER_HANDSHAKE, [&p1, &p2, &[]]);
    ours.insert("ik_h0", h0);
    ours.insert("ik_msg1", msgs[0].clone());
    ours.insert("ik_msg2", msgs[1].clone());
    ours.insert("ik_hash", ik.hash.to_vec());
    ours.insert("ik_initiator_tx", ik.tx.to_vec());
    ours.insert("ik_initiator_rx", ik.rx.to_vec());

    let (h0, msgs, xx) = handshake(Pattern::Xx, &[], [&[], &[], &[]]);
    ours.insert("xx_h0", h0);
    ours.insert("xx_msg1", msgs[0].clone());
    ours.insert("xx_msg2", msgs[1].clone());
    ours.insert("xx_msg3", msgs[2].clone());
    ours.insert("xx_hash", xx.hash.to_vec());
    ours.insert("xx_initiator_tx", xx.tx.to_vec());
    ours.insert("xx_initiator_rx", xx.rx.to_vec());
    ours.insert("stream_id_initiator", stream_id(&xx.hash, true).to_vec());
    ours.insert("stream_id_responder", stream_id(&xx.hash, false).to_vec());

    // Our encryptor with Node's header bytes reproduces Node's frames.
    let header_frame = get("header_frame");
    let mut session = Session::with_rng(&xx, MAX_FRAME_LEN, FixedRng(header_frame[35..].to_vec()));
    ours.insert("header_frame", session.take_header().unwrap().to_vec());
    let mut hello = Vec::new();
    session.encrypt(b"hello", &mut hello).unwrap();
    ours.insert("frame_hello", hello);
    let mut keepalive = Vec::new();
    session.encrypt(b"", &mut keepalive).unwrap();
    ours.insert("frame_keepalive", keepalive);

    // libsodium's REKEY tag: our pull decrypts all three and rekeys in between.
    let key: [u8; 32] = get("rekey_key").try_into().unwrap();
    let mut pull = PullStream::init(Header::try_from(get("rekey_header").as_slice()).unwrap(), &Key::from(key));
    for (name, plain, tag) in
        [("rekey_msg_before", "before", Tag::Message), ("rekey_msg_rekey", "rekey", Tag::Rekey), ("rekey_msg_after", "after", Tag::Message)]
    {
        let mut buf = get(name);
        assert_eq!(pull.pull(&mut buf, &[]).unwrap(), tag, "{name}");
        assert_eq!(buf, plain.as_bytes(), "{name}");
        ours.insert(name, get(name));
    }
    // Datagrams: our responder opens Node's envelope; our initiator, at the same counter, seals it again.
    let env = get("datagram_one");
    assert_eq!(crate::Datagrams::new(&xx.hash, false).open(&env).unwrap(), b"datagram one");
    let counter = u64::from_le_bytes(env[..8].try_into().unwrap());
    ours.insert("datagram_one", crate::datagram::Datagrams::with_counter(&xx.hash, true, counter - 1).seal(b"datagram one").unwrap());
    ours.insert("rekey_key", key.to_vec());
    ours.insert("rekey_header", get("rekey_header"));

    for (name, value) in &v {
        let mine = ours.get(name.as_str()).unwrap_or_else(|| panic!("spec vector {name} is not checked by this test"));
        assert_eq!(HEXLOWER.encode(mine), HEXLOWER.encode(value), "{name}");
    }
    assert_eq!(ours.len(), v.len(), "vectors checked here but missing from the spec");
}
