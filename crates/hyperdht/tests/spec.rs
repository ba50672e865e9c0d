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
