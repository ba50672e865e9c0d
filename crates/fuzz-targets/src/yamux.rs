//! The yamux session fed arbitrary bytes, in arbitrary pieces, with the
//! application reading, writing, closing and dropping streams as the input says.

use std::task::Waker;

use bytes::BytesMut;
use rhizome_yamux::session::{Limits, Session};

use crate::chunks;

pub(crate) fn yamux_session(data: &[u8]) {
    let Some((&mode, data)) = data.split_first() else { return };
    let limits = Limits { max_streams: 16, max_stream_window: 1024 * 1024 };
    let mut session = Session::new(mode & 1 == 0, limits);
    let mut buf = BytesMut::new();
    let mut live: Vec<u32> = Vec::new();
    let mut out = vec![0u8; 64 * 1024];
    for (i, chunk) in chunks(data).enumerate() {
        buf.extend_from_slice(chunk);
        match session.receive(&mut buf) {
            Ok(r) if r.go_away.is_some() => break,
            Ok(_) => {}
            Err(_) => break,
        }
        while let Some(id) = session.next_accepted() {
            live.push(id);
        }
        if i % 3 == 0
            && let Ok(Some(id)) = session.open()
        {
            live.push(id);
        }
        // The application acts on the streams, steered by the chunk's first byte.
        let op = chunk.first().copied().unwrap_or(0);
        for (k, &id) in live.iter().enumerate() {
            match (op as usize + k) % 4 {
                0 => {
                    let mut rb = tokio::io::ReadBuf::new(&mut out);
                    let _ = session.read(id, &mut rb, Waker::noop());
                }
                1 => {
                    if let Ok(Some(h)) = session.plan_send(id, 1000, Waker::noop())
                        && op & 0x80 != 0
                    {
                        session.unplan_send(id, &h);
                    }
                }
                2 => {
                    let _ = session.close(id);
                }
                _ => {}
            }
        }
        if op & 0x40 != 0
            && let Some(id) = live.pop()
        {
            session.drop_stream(id);
        }
        // Drain what the session wants to send (bounded by its own queues).
        for _ in 0..10_000 {
            if session.next_control().is_none() {
                break;
            }
        }
        session.wake.clear();
    }
    session.close_all();
}
