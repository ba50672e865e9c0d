use super::*;
use data_encoding::HEXLOWER;
use rhizome_identity::KeypairExt as _;
use rhizome_node::Keypair;

/// The spec's Ed25519 peer id (libp2p-wire.md §2.3).
const PEER_HEX: &str = "0024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

/// Test vectors, also listed in `specs/kad.md` (checked below).
pub(crate) const FIND_NODE_FRAMED: &str = "2a080412260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
pub(crate) const PUT_VALUE_BODY: &str = "120568656c6c6f1a0e0a0568656c6c6f1205776f726c64";
pub(crate) const GET_VALUE_REPLY_BODY: &str = "08011a0e0a0568656c6c6f1205776f726c64";

fn spec_peer() -> PeerId {
    PeerId::from_bytes(&HEXLOWER.decode(PEER_HEX.as_bytes()).unwrap()).unwrap()
}

fn hex_of(s: &str) -> String {
    s.replace(' ', "")
}

fn peer(n: u8) -> Peer {
    Peer { id: Keypair::from_seed([n; 32]).peer_id(), addrs: vec![format!("/ip4/127.0.0.1/tcp/{}", 4000 + u16::from(n)).parse().unwrap()] }
}

#[test]
fn find_node_vector() {
    let body = Request::FindNode { key: spec_peer().to_bytes() }.encode();
    let mut framed = Vec::new();
    rhizome_core::framing::encode_length_prefixed(&body, &mut framed);
    assert_eq!(HEXLOWER.encode(&framed), hex_of(FIND_NODE_FRAMED));
    assert_eq!(body.len(), 42);
}

#[test]
fn put_and_get_value_vectors() {
    let record = Record::new(b"hello".to_vec(), b"world".to_vec());
    assert_eq!(HEXLOWER.encode(&Request::PutValue { record: record.clone() }.encode()), PUT_VALUE_BODY);
    let reply = Response::GetValue { record: Some(record), closer: vec![] };
    assert_eq!(HEXLOWER.encode(&reply.encode()), GET_VALUE_REPLY_BODY);
}

#[test]
fn spec_lists_the_vectors() {
    let spec = include_str!("../../../../specs/kad.md");
    for v in [hex_of(FIND_NODE_FRAMED), PUT_VALUE_BODY.to_owned(), GET_VALUE_REPLY_BODY.to_owned()] {
        assert!(spec.contains(&v), "specs/kad.md should list {v}");
    }
}

#[test]
fn requests_round_trip() {
    let mut record = Record::new(b"k".to_vec(), b"v".to_vec());
    record.publisher = Some(peer(1).id);
    record.ttl = Some(Duration::from_secs(3600));
    let requests = [
        Request::FindNode { key: peer(2).id.to_bytes() },
        Request::GetValue { key: b"k".to_vec() },
        Request::PutValue { record },
        Request::AddProvider { key: b"mh".to_vec(), providers: vec![peer(3)] },
        Request::GetProviders { key: b"mh".to_vec() },
        Request::Ping,
    ];
    for r in requests {
        assert_eq!(Request::decode(&r.encode()).unwrap(), r);
    }
}

#[test]
fn responses_round_trip() {
    let responses = [
        Response::FindNode { closer: vec![peer(1), peer(2)] },
        Response::GetValue { record: Some(Record::new(b"k".to_vec(), b"v".to_vec())), closer: vec![peer(3)] },
        Response::GetValue { record: None, closer: vec![] },
        Response::PutValue { key: b"k".to_vec(), record: Some(Record::new(b"k".to_vec(), b"v".to_vec())) },
        Response::GetProviders { providers: vec![peer(4)], closer: vec![peer(5)] },
        Response::Ping,
    ];
    for r in responses {
        assert_eq!(Response::decode(&r.encode(), r.message_type()).unwrap(), r);
    }
}

#[test]
fn unknown_fields_are_ignored() {
    // py-libp2p appends a signed `senderRecord`; any unknown field must be skipped.
    let mut bytes = Request::GetValue { key: b"k".to_vec() }.encode();
    // field 21, wire type 2 (length-delimited), 3 bytes; then field 4242 varint.
    bytes.extend_from_slice(&[0xaa, 0x01, 0x03, 1, 2, 3, 0x90, 0x89, 0x02, 0x07]);
    assert_eq!(Request::decode(&bytes).unwrap(), Request::GetValue { key: b"k".to_vec() });
}

#[test]
fn missing_type_is_put_value() {
    let bytes = HEXLOWER.decode(PUT_VALUE_BODY.as_bytes()).unwrap();
    assert!(matches!(Request::decode(&bytes).unwrap(), Request::PutValue { .. }));
}

#[test]
fn bad_messages_are_typed_errors() {
    assert!(matches!(Request::decode(&[0xff, 0xff, 0xff]), Err(WireError::Decode(_))));
    assert!(matches!(Request::decode(&[0x08, 0x09]), Err(WireError::UnknownType(9))));
    assert!(matches!(Request::decode(&[0x08, 0x00, 0x12, 0x01, b'k']), Err(WireError::MissingRecord)));
    let mismatched = proto::Message {
        key: b"a".to_vec(),
        record: Some(proto::Record { key: b"b".to_vec(), ..Default::default() }),
        ..Default::default()
    };
    assert!(matches!(Request::decode(&mismatched.encode_to_vec()), Err(WireError::KeyMismatch)));
    let reply = Response::Ping.encode();
    assert!(matches!(Response::decode(&reply, MessageType::FindNode), Err(WireError::UnexpectedType { .. })));
    // Undecodable peer ids and addresses are skipped, not fatal.
    let msg = proto::Message {
        r#type: MessageType::FindNode as i32,
        closer_peers: vec![
            proto::message::Peer { id: vec![1, 2, 3], ..Default::default() },
            proto::message::Peer { id: peer(1).id.to_bytes(), addrs: vec![vec![0xff, 0xff]], connection: 0 },
        ],
        ..Default::default()
    };
    let decoded = Response::decode(&msg.encode_to_vec(), MessageType::FindNode).unwrap();
    assert_eq!(decoded, Response::FindNode { closer: vec![Peer { id: peer(1).id, addrs: vec![] }] });
}

#[test]
fn peer_lists_are_capped() {
    let many: Vec<Peer> = (0..100u8).map(peer).collect();
    let bytes = Response::FindNode { closer: many }.encode();
    let Response::FindNode { closer } = Response::decode(&bytes, MessageType::FindNode).unwrap() else { panic!() };
    assert_eq!(closer.len(), MAX_PEERS_PER_MESSAGE);
}

proptest::proptest! {
    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes, MessageType::GetProviders);
    }
}
