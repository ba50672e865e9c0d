//! The tokio shell's hyperdht hooks on real sockets (127.0.0.1): incoming commands reach
//! `take_requests` or a registered target, queries carry a command and stream replies,
//! raw sends keep the caller's tid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddrV4;
use std::time::Duration;

use rhizome_hyperdht::message::{Response, error_code};
use rhizome_hyperdht::node::OutRequest;
use rhizome_hyperdht::rpc::Config;
use rhizome_hyperdht::{Dht, DhtError};
use tokio::time::timeout;

fn any() -> SocketAddrV4 {
    SocketAddrV4::new([127, 0, 0, 1].into(), 0)
}

async fn persistent(bootstrap: Vec<SocketAddrV4>) -> Dht {
    let mut c = Config::default();
    c.ephemeral = false;
    Dht::bind(any(), bootstrap, c).await.unwrap()
}

#[tokio::test]
async fn commands_queries_and_targets() {
    timeout(Duration::from_secs(30), async {
        let a = persistent(vec![]).await;
        let mut nodes = vec![];
        for _ in 0..4 {
            nodes.push(persistent(vec![a.local_addr()]).await);
        }
        // every persistent node answers LOOKUP (3) with its port
        let mut tasks = vec![];
        for n in nodes.iter().chain(std::iter::once(&a)) {
            let mut rx = n.take_requests().unwrap();
            assert!(n.take_requests().is_none(), "only one taker");
            let port = n.local_addr().port();
            tasks.push(tokio::spawn(async move {
                while let Some(inc) = rx.recv().await {
                    if inc.request.command == 3 {
                        inc.reply(0, Some(port.to_le_bytes().to_vec()));
                    } else {
                        inc.ignore();
                    }
                }
            }));
        }
        let client = Dht::bind(any(), vec![a.local_addr()], Config::default()).await.unwrap();
        let mut q = client.query([7; 32], 3, None).await.unwrap();
        let mut seen = vec![];
        while let Some(r) = q.next().await {
            assert_eq!(r.value.as_deref(), Some(&r.addr.port().to_le_bytes()[..]));
            assert!(r.token.is_some());
            seen.push(r.addr);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 5, "every node answered the query: {seen:?}");
        let closest = q.finish().await.unwrap();
        assert_eq!(closest.len(), 5);

        // a request with a token from the query verifies; a registered target takes its own
        let target = [9; 32];
        let mut mine = nodes[0].register_target(target).unwrap();
        let to = nodes[0].local_addr();
        let token = closest.iter().find(|r| r.addr == to).and_then(|r| r.token).unwrap();
        let req = OutRequest::new(0).target(target).value(vec![1]).token(token);
        let (res, inc) = tokio::join!(client.request(to, req), async {
            let inc = mine.recv().await.unwrap();
            assert_eq!(inc.request.token, Some(token), "the token verified");
            inc.reply_bare(0, Some(vec![0xaa]));
        });
        let res = res.unwrap();
        let () = inc;
        assert_eq!((res.value, res.token, res.closer_nodes.len()), (Some(vec![0xaa]), None, 0));

        // an unregistered target with no matching handler still reaches the general taker,
        // which ignores command 0: the request times out
        let short = OutRequest::new(0).target([1; 32]);
        drop(mine);
        let r = client.request(to, short).await;
        assert!(matches!(r, Err(DhtError::Timeout)), "{r:?}");

        // raw sends: a response with the caller's tid reaches the pending request
        let relay = persistent(vec![]).await;
        let mut rx = relay.take_requests().unwrap();
        let relay_addr = relay.local_addr();
        let (res, ()) = tokio::join!(client.request(relay_addr, OutRequest::new(2).target([3; 32])), async {
            let inc = rx.recv().await.unwrap();
            let res = Response {
                tid: inc.request.tid,
                to: inc.from,
                id: None,
                token: None,
                closer_nodes: vec![],
                error: 0,
                value: Some(vec![5]),
            };
            relay.send_response_raw(inc.from, res).await.unwrap();
        });
        assert_eq!(res.unwrap().value, Some(vec![5]));
        // without any taker: UNKNOWN_COMMAND
        drop(rx);
        let r = client.request(relay_addr, OutRequest::new(2).target([3; 32])).await.unwrap();
        assert_eq!(r.error, error_code::UNKNOWN_COMMAND);
        for t in tasks {
            t.abort();
        }
    })
    .await
    .expect("test timed out");
}
