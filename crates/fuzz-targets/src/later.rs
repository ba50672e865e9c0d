//! Parsers that joined later: Kademlia messages, the UDX header and the UDX session.

use std::time::{Duration, Instant};

use rhizome_kad::proto::message::MessageType;
use rhizome_kad::{Request, Response};
use rhizome_udx::header::{Header, Packet};
use rhizome_udx::proto::Connection;

use crate::chunks;

/// A Kademlia request, and a response to each request type.
pub(crate) fn kad_message(data: &[u8]) {
    let _ = Request::decode(data);
    for expected in [
        MessageType::PutValue,
        MessageType::GetValue,
        MessageType::AddProvider,
        MessageType::GetProviders,
        MessageType::FindNode,
        MessageType::Ping,
    ] {
        let _ = Response::decode(data, expected);
    }
}

/// The 20-byte UDX header and a whole packet.
pub(crate) fn udx_header(data: &[u8]) {
    let _ = Header::decode(data);
    let _ = Packet::decode(data);
}

/// A connected UDX stream fed arbitrary datagrams (the size of each from the input),
/// with time moving on between them; it must never panic and never buffer beyond
/// its windows.
pub(crate) fn udx_session(data: &[u8]) {
    let start = Instant::now();
    let mut conn = Connection::new(1, rhizome_udx::Config::default(), start);
    conn.connect(2, false);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    for (i, datagram) in chunks(data).enumerate() {
        let now = start + Duration::from_millis(10 * i as u64);
        let _ = conn.handle_datagram(now, datagram);
        for _ in 0..64 {
            out.clear();
            if !conn.poll_transmit(now, &mut out) {
                break;
            }
        }
        conn.handle_timeout(now);
        while let Ok(Some(n)) = conn.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
    }
}
