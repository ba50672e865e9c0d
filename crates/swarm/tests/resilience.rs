//! Failures that must stay local: a panicking dial, a listener running out of descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rhizome_core::{Listener, MemoryTransport, Multiaddr, RawConn, Transport, TransportError};
use rhizome_swarm::{DialError, SwarmEvent};

/// The memory transport, but the first dial panics.
struct PanicsOnce {
    dials: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Transport for PanicsOnce {
    fn name(&self) -> &'static str {
        "panics-once"
    }
    fn supports(&self, addr: &Multiaddr) -> bool {
        MemoryTransport.supports(addr)
    }
    async fn dial(&self, addr: &Multiaddr) -> Result<RawConn, TransportError> {
        if self.dials.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("transport bug (expected by this test)");
        }
        MemoryTransport.dial(addr).await
    }
    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn Listener>, TransportError> {
        MemoryTransport.listen(addr).await
    }
}

/// Accepts fail with EMFILE a few times, then work.
struct FlakyListener {
    inner: Box<dyn Listener>,
    failures: usize,
}

#[async_trait::async_trait]
impl Listener for FlakyListener {
    fn local_addr(&self) -> Multiaddr {
        self.inner.local_addr()
    }
    async fn accept(&mut self) -> Result<RawConn, TransportError> {
        if self.failures > 0 {
            self.failures -= 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
            return Err(TransportError::Io(std::io::Error::from_raw_os_error(24))); // EMFILE
        }
        self.inner.accept().await
    }
}

struct FlakyTransport;

#[async_trait::async_trait]
impl Transport for FlakyTransport {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn supports(&self, addr: &Multiaddr) -> bool {
        MemoryTransport.supports(addr)
    }
    async fn dial(&self, addr: &Multiaddr) -> Result<RawConn, TransportError> {
        MemoryTransport.dial(addr).await
    }
    async fn listen(&self, addr: &Multiaddr) -> Result<Box<dyn Listener>, TransportError> {
        Ok(Box::new(FlakyListener { inner: MemoryTransport.listen(addr).await?, failures: 150 }))
    }
}

use common::swarm_with as swarm;

#[tokio::test]
async fn a_panicking_dial_does_not_poison_the_peer() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let dials = Arc::new(AtomicUsize::new(0));
        let a = swarm(1, PanicsOnce { dials: dials.clone() });
        let b = swarm(2, MemoryTransport);
        let (_, addr) = b.listen("/memory/0".parse().unwrap()).await.unwrap();
        let full = rhizome_identity::with_peer_id(&addr, b.local_peer_id());
        assert!(matches!(a.dial(full.clone()).await, Err(DialError::Aborted)));
        let conn = a.dial(full).await.expect("the second dial must really dial");
        assert_eq!(conn.peer(), b.local_peer_id());
        assert_eq!(dials.load(Ordering::SeqCst), 2);
    })
    .await
    .unwrap();
}

/// Paused clock: the listener's backoff (up to 1 s per error) passes instantly.
#[tokio::test(start_paused = true)]
async fn a_listener_survives_a_run_of_accept_errors() {
    tokio::time::timeout(Duration::from_secs(600), async {
        let b = swarm(2, FlakyTransport);
        let mut events = b.subscribe();
        let (_, addr) = b.listen("/memory/0".parse().unwrap()).await.unwrap();
        // 150 EMFILE errors in a row (the old code gave up after 100).
        let mut errors = 0;
        while errors < 150 {
            match events.recv().await.unwrap() {
                SwarmEvent::ListenError { error, .. } => {
                    errors += 1;
                    // The source is kept, not stringified.
                    assert!(matches!(&*error, TransportError::Io(e) if e.raw_os_error() == Some(24)));
                }
                SwarmEvent::ListenerClosed { .. } => panic!("listener closed on a transient error"),
                _ => {}
            }
        }
        // Then it accepts again.
        let a = swarm(1, MemoryTransport);
        let conn = a.dial(rhizome_identity::with_peer_id(&addr, b.local_peer_id())).await.unwrap();
        assert_eq!(conn.peer(), b.local_peer_id());
        assert_eq!(b.listen_addrs(), vec![addr]);
    })
    .await
    .unwrap();
}

/// The whole `source()` chain of an error, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[tokio::test]
async fn a_dial_refused_at_accept_reports_the_real_cause_once() {
    tokio::time::timeout(Duration::from_secs(10), async {
        let limits = rhizome_swarm::ConnectionLimits { max_established_incoming: Some(0), ..Default::default() };
        let server =
            common::swarm_with_config(9, rhizome_tcp::TcpTransport::default(), rhizome_swarm::Config { limits, ..Default::default() });
        let (_, addr) = server.listen("/ip4/127.0.0.1/tcp/0".parse().unwrap()).await.unwrap();
        let client = common::swarm_with(10, rhizome_tcp::TcpTransport::default());
        let err = client.dial(addr).await.unwrap_err();
        let text = chain(&err);
        // The listener dropped the socket: the dialer sees a reset, or an EOF before the
        // listener's multistream answer, depending on timing, never a refusal.
        assert!(text.contains("remote closed the connection during protocol negotiation") || text.contains("reset"), "{text}");
        assert!(!text.contains("no protocol in common"), "{text}");
        assert_eq!(text.matches("security").count(), 1, "one security prefix: {text}");
    })
    .await
    .expect("test timed out");
}
