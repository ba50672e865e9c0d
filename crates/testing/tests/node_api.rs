//! The node API promises: bounded events that report lag, trait-object handlers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rhizome_node::{Event, HandlerError, Node, Stream, StreamCtx, StreamHandler};
use rhizome_testing::{addr_of, timeout};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::broadcast::error::RecvError;

#[tokio::test]
async fn a_slow_event_receiver_is_told_it_lagged() {
    timeout(async {
        let config = rhizome_swarm::Config { event_capacity: 4, ..Default::default() };
        let node = Node::builder().memory().config(config).build().await.unwrap();
        let mut events = node.events();
        for _ in 0..10 {
            node.listen("/memory/0".parse().unwrap()).await.unwrap(); // one Listening event each
        }
        match events.recv().await {
            Err(RecvError::Lagged(missed)) => assert_eq!(missed, 6),
            other => panic!("expected a lag report, got {other:?}"),
        }
        // The receiver goes on with the newest events.
        assert!(matches!(events.recv().await, Ok(Event::Listening { .. })));
    })
    .await
}

/// A stateful handler written as a trait object.
struct Greeter {
    greeting: String,
}

#[async_trait::async_trait]
impl StreamHandler for Greeter {
    async fn handle(&self, mut stream: Stream, ctx: StreamCtx) -> Result<(), HandlerError> {
        let node = ctx.node().ok_or("node gone")?;
        let reply = format!("{} {}, from {}", self.greeting, ctx.peer, node.id());
        stream.write_all(reply.as_bytes()).await?;
        stream.shutdown().await?;
        Ok(())
    }
}

#[tokio::test]
async fn trait_object_handlers_and_removal() {
    timeout(async {
        let (a, b) = (rhizome_testing::memory_node().await, rhizome_testing::memory_node().await);
        b.set_stream_handler("/greet/1", Greeter { greeting: "hello".into() }).unwrap();
        a.add_address(b.id(), addr_of(&b), std::time::Duration::from_secs(60));
        let mut s = a.open_stream(b.id(), "/greet/1").await.unwrap(); // dials the known address
        let mut reply = String::new();
        s.read_to_string(&mut reply).await.unwrap();
        assert_eq!(reply, format!("hello {}, from {}", a.id(), b.id()));
        assert!(b.remove_stream_handler("/greet/1"));
        assert!(a.open_stream(b.id(), "/greet/1").await.is_err());
        assert!(a.open_stream(b.id(), "no-slash").await.is_err(), "invalid protocol ids are refused");
    })
    .await
}
