//! A Rhizome-only testnet on 127.0.0.1: our client put/get against our storing nodes, and a
//! lying storing node whose forged records the client refuses.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rhizome_hyperdht::Dht;
use rhizome_hyperdht::persistent::command;
use rhizome_hyperdht::records::RecordError;
use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::testnet::Testnet;
use rhizome_hyperdht::wire::mutable::{MutableRecord, mutable_target};
use rhizome_secret_stream::Keypair;
use tokio::time::timeout;

fn any() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

async fn client(bootstrap: Vec<SocketAddrV4>) -> Dht {
    Dht::bind(any(), bootstrap, Config::default()).await.unwrap()
}

#[tokio::test]
async fn put_get_on_a_rhizome_testnet() {
    timeout(Duration::from_secs(60), async {
        let tn = Testnet::spawn(5).await.unwrap();
        assert_eq!(tn.nodes().len(), 5);
        assert!(tn.nodes().iter().all(|n| n.dht().is_persistent()));
        let a = client(tn.bootstrap()).await;
        let b = client(tn.bootstrap()).await;
        let kp = Keypair::from_seed(&[0xaa; 32]);

        assert_eq!(b.mutable_get(&kp.public_key(), 0).await.unwrap(), None);
        let put = a.mutable_put(&kp, b"first", 1).await.unwrap();
        assert_eq!(put.stored, 5, "every node of a 5-node net is among the k closest");
        let got = b.mutable_get(&kp.public_key(), 0).await.unwrap().unwrap();
        assert_eq!((got.seq, &got.value[..]), (1, &b"first"[..]));
        a.mutable_put(&kp, b"second", 2).await.unwrap();
        assert_eq!(b.mutable_get(&kp.public_key(), 2).await.unwrap().unwrap().value, b"second");
        assert_eq!(b.mutable_get(&kp.public_key(), 3).await.unwrap(), None);
        assert!(matches!(a.mutable_put(&kp, b"old", 1).await, Err(RecordError::SeqTooLow)));
        assert!(matches!(a.mutable_put(&kp, b"other", 2).await, Err(RecordError::SeqReused)));
        assert_eq!(tn.stats().mutables, 5);

        let h = a.immutable_put(b"immutable bytes").await.unwrap();
        assert_eq!(h.stored, 5);
        assert_eq!(b.immutable_get(&h.target).await.unwrap().unwrap(), b"immutable bytes");
        assert_eq!(b.immutable_get(&[0; 32]).await.unwrap(), None);
        assert_eq!(tn.stats().immutables, 5);
    })
    .await
    .expect("timed out");
}

/// A persistent node that answers MUTABLE_GET / IMMUTABLE_GET with forged values: the
/// client gets typed errors, never the forged bytes.
#[tokio::test]
async fn forged_records_are_refused() {
    timeout(Duration::from_secs(30), async {
        let mut cfg = Config::default();
        cfg.ephemeral = false;
        let liar = Dht::bind(any(), vec![], cfg).await.unwrap();
        let mut rx = liar.take_requests().unwrap();
        let kp = Keypair::from_seed(&[0xaa; 32]);
        let other = Keypair::from_seed(&[0xbb; 32]);
        // a record validly signed by another key, under kp's target
        let forged = rhizome_hyperdht::wire::mutable::MutablePut::sign(other.public_key(), 5, b"evil".to_vec(), |m| other.sign(m));
        let forged_rec: MutableRecord = forged.record;
        tokio::spawn(async move {
            while let Some(inc) = rx.recv().await {
                match inc.request.command {
                    command::MUTABLE_GET => inc.reply(0, Some(forged_rec.encode())),
                    command::IMMUTABLE_GET => inc.reply(0, Some(b"not the preimage".to_vec())),
                    _ => inc.ignore(),
                }
            }
        });
        let c = client(vec![liar.local_addr()]).await;
        assert!(matches!(c.mutable_get(&kp.public_key(), 0).await, Err(RecordError::BadSignature)));
        assert_eq!(mutable_target(&kp.public_key()).len(), 32);
        assert!(matches!(c.immutable_get(&[1; 32]).await, Err(RecordError::BadHash)));
    })
    .await
    .expect("timed out");
}

/// Random datagrams that look like requests (and random hyperdht command values) thrown at a
/// storing node: it keeps serving.
#[tokio::test]
async fn garbage_requests_do_not_stop_a_storing_node() {
    timeout(Duration::from_secs(30), async {
        let tn = Testnet::spawn(1).await.unwrap();
        let target = tn.addresses()[0];
        let sock = tokio::net::UdpSocket::bind(any()).await.unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..3000u32 {
            let len = (next() % 300) as usize + 2;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            d[0] = 0x03;
            if i % 2 == 0 {
                // a well-formed header (flags: target|value, not internal) with a random command 0..=10 and value
                let mut h = vec![0x03, 0x18, i as u8, (i >> 8) as u8, 127, 0, 0, 1];
                h.extend_from_slice(&target.port().to_le_bytes());
                h.push((next() % 11) as u8);
                h.extend_from_slice(&[(next() % 4) as u8; 32]);
                let v = &d[..(len - 2).min(250)];
                h.push(v.len() as u8);
                h.extend_from_slice(v);
                d = h;
            }
            sock.send_to(&d, std::net::SocketAddr::V4(target)).await.unwrap();
            if i % 200 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let c = client(tn.bootstrap()).await;
        let put = c.immutable_put(b"still alive").await.unwrap();
        assert_eq!(put.stored, 1);
        assert_eq!(c.immutable_get(&put.target).await.unwrap().unwrap(), b"still alive");
    })
    .await
    .expect("timed out");
}
