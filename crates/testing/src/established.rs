//! A test transport for connections that arrive established: two nodes joined by an
//! in-process link, either multiplexed with **named** streams (as protomux or QUIC
//! name theirs) or a **single** stream (as a Hyperswarm secret-stream is), handed to
//! the nodes with [`Node::add_connection`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rhizome_core::{IncomingStream, MuxCommand, MuxDriverEnds, MuxError, MuxedConnection, ProtocolId, StreamNaming};
use rhizome_node::{AddConnectionError, Connection, Direction, EstablishedConnection, Multiaddr, Node};
use tokio_util::sync::CancellationToken;

/// The transport name these connections report (`ConnectionInfo::transport`).
pub const TRANSPORT: &str = "test-established";
/// Bytes buffered per stream direction on the in-process link.
pub const STREAM_BUFFER: usize = 64 * 1024;
/// Inbound streams waiting per side before new ones are refused.
const BACKLOG: usize = 32;

/// Counts the link drivers still running (a driver ends when its connection ends,
/// and when the task running it is dropped).
#[derive(Debug, Clone, Default)]
pub struct DriverProbe(Arc<AtomicUsize>);

impl DriverProbe {
    /// Drivers still running.
    pub fn live(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

struct Live(Arc<AtomicUsize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Two ends of an in-process link whose streams are named: an outbound open for a
/// protocol arrives at the other end as an inbound stream of that protocol. Closing
/// either end (or dropping its driver) ends both, like a dropped socket.
pub fn named_pair() -> (MuxedConnection, MuxedConnection, DriverProbe) {
    let probe = DriverProbe::default();
    let link = CancellationToken::new();
    let (a, a_ends) = MuxedConnection::channel(StreamNaming::Named, BACKLOG);
    let (b, b_ends) = MuxedConnection::channel(StreamNaming::Named, BACKLOG);
    let (a_to_b, b_to_a) = (b_ends.inbound.clone(), a_ends.inbound.clone());
    let a_driver = drive(a_ends, a_to_b, link.clone(), &probe);
    let b_driver = drive(b_ends, b_to_a, link, &probe);
    (a.with_driver(Box::pin(a_driver)), b.with_driver(Box::pin(b_driver)), probe)
}

fn drive(
    ends: MuxDriverEnds,
    remote: rhizome_core::InboundSender,
    link: CancellationToken,
    probe: &DriverProbe,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    probe.0.fetch_add(1, Ordering::AcqRel);
    let live = Live(probe.0.clone());
    async move {
        let _live = live;
        let _link_guard = link.clone().drop_guard();
        let MuxDriverEnds { mut commands, inbound, closed } = ends;
        // Our own inbound streams come from the remote's driver.
        drop(inbound);
        let mut closers = Vec::new();
        loop {
            tokio::select! {
                _ = link.cancelled() => break,
                cmd = commands.recv() => match cmd {
                    Some(MuxCommand::Open { protocol: Some(protocol), reply }) => {
                        let (near, far) = tokio::io::duplex(STREAM_BUFFER);
                        let result = match remote.try_send(IncomingStream::named(Box::new(far), protocol.clone())) {
                            Ok(()) => Ok(Box::new(near) as rhizome_core::BoxIo),
                            Err(_) => Err(MuxError::Refused(protocol)),
                        };
                        let _ = reply.send(result);
                    }
                    Some(MuxCommand::Open { reply, .. }) => {
                        let _ = reply.send(Err(MuxError::NotSupported));
                    }
                    Some(MuxCommand::Close(done)) => {
                        closers.push(done);
                        break;
                    }
                    None => break,
                    Some(_) => {}
                },
            }
        }
        link.cancel();
        drop(remote);
        let _ = closed.send(true);
        for done in closers {
            let _ = done.send(());
        }
    }
}

fn addr() -> Multiaddr {
    Multiaddr::empty().with(rhizome_core::multiaddr::Protocol::Memory(0))
}

/// Joins `a` (outbound) and `b` (inbound) with a named-stream link.
pub fn connect_named(a: &Node, b: &Node) -> Result<(Connection, Connection, DriverProbe), AddConnectionError> {
    let (ma, mb, probe) = named_pair();
    let ca = a.add_connection(EstablishedConnection::multiplexed(b.id(), addr(), addr(), TRANSPORT, ma), Direction::Outbound)?;
    let cb = b.add_connection(EstablishedConnection::multiplexed(a.id(), addr(), addr(), TRANSPORT, mb), Direction::Inbound)?;
    Ok((ca, cb, probe))
}

/// Joins `a` (outbound) and `b` (inbound) with a single-stream link: `a`'s end is
/// served by its handler for `a_protocol`, `b`'s by its handler for `b_protocol`.
pub fn connect_single(
    a: &Node,
    a_protocol: ProtocolId,
    b: &Node,
    b_protocol: ProtocolId,
) -> Result<(Connection, Connection), AddConnectionError> {
    let (ia, ib) = tokio::io::duplex(STREAM_BUFFER);
    let ea = EstablishedConnection::single_stream(b.id(), addr(), addr(), TRANSPORT, Box::new(ia), a_protocol);
    let eb = EstablishedConnection::single_stream(a.id(), addr(), addr(), TRANSPORT, Box::new(ib), b_protocol);
    let ca = a.add_connection(ea, Direction::Outbound)?;
    let cb = b.add_connection(eb, Direction::Inbound)?;
    Ok((ca, cb))
}
