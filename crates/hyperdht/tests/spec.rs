//! The hex vectors in `specs/hyperswarm.md` must hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddrV4};

use rhizome_hyperdht::message::Message;
use rhizome_hyperdht::peer::{TokenSecrets, blake2b_256, node_id};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn id32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

#[test]
fn spec_vectors_hold() {
    let spec = include_str!("../../../specs/hyperswarm.md");
    let (mut messages, mut ids, mut tokens, mut rotations) = (0, 0, 0, 0);
    for line in spec.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["message", name, h] => {
                let m = Message::decode(&unhex(h)).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(m.encode(), unhex(h), "{name} re-encodes");
                messages += 1;
            }
            ["node-id", addr, h] => {
                let a: SocketAddrV4 = addr.parse().unwrap();
                assert_eq!(node_id(a), id32(h));
                ids += 1;
            }
            ["token", secret, host, h] => {
                let secret = id32(secret.strip_prefix("secret=").unwrap());
                let host: Ipv4Addr = host.strip_prefix("host=").unwrap().parse().unwrap();
                let s = TokenSecrets::new([0; 32], secret);
                assert_eq!(s.issue(host), id32(h));
                assert!(s.verify(host, &id32(h)));
                tokens += 1;
            }
            ["rotate", secret, h] => {
                assert_eq!(blake2b_256(&id32(secret)), id32(h));
                rotations += 1;
            }
            _ => {}
        }
    }
    assert!(messages >= 10 && ids >= 1 && tokens >= 1 && rotations >= 1);
}

fn kv<'a>(part: &'a str, key: &str) -> &'a str {
    part.strip_prefix(key).and_then(|p| p.strip_prefix('=')).unwrap_or_else(|| panic!("{part}: expected {key}="))
}

/// Part 2: namespaces, hyperdht values inside captured datagrams, signatures, payloads.
#[test]
fn hyperdht_spec_vectors_hold() {
    use rhizome_hyperdht::wire::{self, Announce, HandshakeMessage, HolepunchMessage, LookupReply, NoisePayload, PeerRecord};
    let spec = include_str!("../../../specs/hyperswarm.md");
    let kp = rhizome_hyperdht::Keypair::from_seed(&[0xaa; 32]);
    let (mut namespaces, mut values, mut signatures, mut payloads) = (0, 0, 0, 0);
    for line in spec.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["namespace", "base", h] => {
                assert_eq!(blake2b_256(b"hyperswarm/dht"), id32(h));
                namespaces += 1;
            }
            ["namespace", c, h] => {
                assert_eq!(wire::ns::namespace("hyperswarm/dht", c.parse().unwrap()), id32(h), "namespace {c}");
                namespaces += 1;
            }
            ["hd", name, kind, h] => {
                let bytes = unhex(h);
                let m = Message::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(m.encode(), bytes, "{name} re-encodes");
                let value = match &m {
                    Message::Request(r) => r.value.clone(),
                    Message::Response(r) => r.value.clone(),
                };
                let reencoded = match (*kind, value.as_deref()) {
                    ("none", None) => None,
                    ("lookup", Some(v)) => Some((v.to_vec(), LookupReply::decode(v).unwrap().encode())),
                    ("announce", Some(v)) => Some((v.to_vec(), Announce::decode(v).unwrap().encode())),
                    ("peer", Some(v)) => Some((v.to_vec(), PeerRecord::decode(v).unwrap().encode())),
                    ("handshake", Some(v)) => Some((v.to_vec(), HandshakeMessage::decode(v).unwrap().encode())),
                    ("holepunch", Some(v)) => Some((v.to_vec(), HolepunchMessage::decode(v).unwrap().encode())),
                    (k, v) => panic!("{name}: kind {k} with value {v:?}"),
                };
                if let Some((original, again)) = reencoded {
                    assert_eq!(again, original, "{name}: the {kind} value re-encodes");
                }
                values += 1;
            }
            ["signature", "announce", target, node, token, record, sig] => {
                let peer = PeerRecord::decode(&unhex(kv(record, "record"))).unwrap();
                let got =
                    wire::sign::sign_announce(&kp, &id32(kv(target, "target")), &id32(kv(node, "node")), &id32(kv(token, "token")), &peer);
                assert_eq!(got.to_vec(), unhex(sig), "announce signature");
                signatures += 1;
            }
            ["signature", "mutable", seq, value, sig] => {
                let seq: u64 = kv(seq, "seq").parse().unwrap();
                let put = wire::mutable::MutablePut::sign(kp.public_key(), seq, unhex(kv(value, "value")), |m| kp.sign(m));
                assert_eq!(put.record.signature.to_vec(), unhex(sig), "mutable signature");
                assert!(put.verify());
                signatures += 1;
            }
            ["payload", h] => {
                let p = NoisePayload::decode(&unhex(h)).unwrap();
                assert_eq!(p.encode(), unhex(h), "payload re-encodes");
                payloads += 1;
            }
            _ => {}
        }
    }
    assert_eq!((namespaces, values, signatures, payloads), (6, 9, 2, 2));
}
