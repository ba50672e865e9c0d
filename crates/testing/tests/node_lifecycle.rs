//! Node lifecycle with long-lived inbound streams (rust-libp2p keeps its ping stream open).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rhizome_node::Event;
use rhizome_ping as ping;
use rhizome_testing::{pair, timeout};

#[tokio::test]
async fn shutdown_is_quick_with_a_long_lived_ping_stream() {
    timeout(async {
        let (a, b) = pair().await;
        ping::serve(&b, &ping::Config::default());
        let mut pinger = ping::Pinger::open(&a, b.id(), &ping::Config::default()).await.unwrap();
        pinger.ping().await.unwrap();
        let started = Instant::now();
        b.shutdown().await; // deadline 5 s; the ping handler stops on StreamCtx::shutdown
        assert!(started.elapsed() < Duration::from_secs(1), "shutdown took {:?}", started.elapsed());
        assert!(pinger.ping().await.is_err());
    })
    .await
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_node_even_with_open_streams() {
    timeout(async {
        let (a, b) = pair().await;
        ping::serve(&b, &ping::Config::default());
        let mut events = a.events();
        let mut pinger = ping::Pinger::open(&a, b.id(), &ping::Config::default()).await.unwrap();
        pinger.ping().await.unwrap();
        drop(b);
        loop {
            if let Event::Disconnected { .. } = events.recv().await.unwrap() {
                break;
            }
        }
        assert!(pinger.ping().await.is_err());
    })
    .await
}
