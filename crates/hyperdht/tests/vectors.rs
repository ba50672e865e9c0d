//! dht-rpc wire vectors: the digest's loopback capture (section 8.2) and the vectors
//! `interop-tests/hyperswarm/dht-vectors.mjs` captured from the real dht-rpc 6.27
//! (`tests/vectors/dht-rpc.json`). Every one must decode and re-encode byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddrV4;

use rhizome_hyperdht::message::{Message, command, error_code};
use rhizome_hyperdht::peer::node_id;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn round_trip(h: &str) -> Message {
    let m = Message::decode(&unhex(h)).unwrap();
    assert_eq!(hex(&m.encode()), h);
    m
}

#[test]
fn digest_8_2_vectors() {
    let n1: SocketAddrV4 = "127.0.0.1:49738".parse().unwrap();
    let Message::Request(ping) = round_trip("03041db57f0000014ac200") else { panic!() };
    assert!(ping.internal && ping.command == command::PING && ping.to == n1);
    assert_eq!(ping.tid, 46365);
    let Message::Response(r) = round_trip("13011db57f000001fcd5ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c") else {
        panic!()
    };
    assert_eq!(r.id, Some(node_id(n1)));
    assert_eq!(r.to, "127.0.0.1:54780".parse().unwrap());
    let Message::Request(nat) = round_trip("031417b57f00000149c201024cc2") else { panic!() };
    assert_eq!(nat.command, command::PING_NAT);
    assert_eq!(nat.value.as_deref(), Some(&49740u16.to_le_bytes()[..]));
    round_trip("130017b57f0000014cc2");
    let Message::Request(f) = round_trip("030c15b57f0000014ac2020254d036efd002ee7c3199a87924dc690a1e32d1d1d1e0737b07de5b508997c2") else {
        panic!()
    };
    assert!(f.internal && f.command == command::FIND_NODE && f.target.is_some());
    let Message::Response(fr) =
        round_trip("130515b57f000001fcd5ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c017f0000014bc2")
    else {
        panic!()
    };
    assert_eq!(fr.closer_nodes, vec!["127.0.0.1:49739".parse().unwrap()]);
    let Message::Request(fp) = round_trip("03081ab57f0000014ac202fb2d6244c46d9b483dadef0a0fde4caab6f3a871aad91743ac66f41a6dfd4f48") else {
        panic!()
    };
    assert!(!fp.internal && fp.command == 2);
    let Message::Response(fpr) = round_trip(
        "131741277f00000172e5ea50f55683100864aa622153cff29c6f99eea9e753f8e211d6b01e0a8af2ac6c20704c7796f24bca789def2738c169f91bddb45b85a50ca5c286389fb5cf9296017f0000014bc221e734ea6c2b6257de72355e472aa05a4c487e6b463c029ed306df2f01b5636b5800",
    ) else {
        panic!()
    };
    assert!(fpr.token.is_some());
    assert_eq!(fpr.value.as_ref().map(Vec::len), Some(33));
    round_trip("03083d277f0000014ac20301149e876b93a7b83e8c335cd5bed26fb21be8cc70313dc4f5d0b69dc9375b59");
}

#[test]
fn captured_from_node_dht_rpc() {
    let text = include_str!("vectors/dht-rpc.json");
    let vectors: serde_json::Value = serde_json::from_str(text).unwrap();
    let vectors = vectors.as_array().unwrap();
    assert!(vectors.len() >= 15);
    for v in vectors {
        let name = v["name"].as_str().unwrap();
        let m = round_trip(v["hex"].as_str().unwrap());
        let from: Option<SocketAddrV4> = v["from"].as_str().map(|s| s.parse().unwrap());
        let id = match &m {
            Message::Request(r) => r.id,
            Message::Response(r) => r.id,
        };
        if let Some(id) = id {
            assert_eq!(Some(node_id(from.unwrap())), Some(id), "{name}: id is hash(from)");
        }
        if name == "unknown-internal-response" {
            let Message::Response(r) = &m else { panic!() };
            assert_eq!(r.error, error_code::UNKNOWN_COMMAND);
            assert!(!r.closer_nodes.is_empty());
        }
        if name == "bad-token-response" {
            let Message::Response(r) = &m else { panic!() };
            assert_eq!(r.error, error_code::INVALID_TOKEN);
            assert!(r.token.is_some());
        }
        if name == "node-persistent-ping" {
            assert!(id.is_some(), "persistent nodes send their id");
        }
    }
}
