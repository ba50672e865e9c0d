//! Batched UDP I/O through quinn-udp: recvmmsg + GRO in, GSO out (falls back
//! to one datagram per syscall where the kernel lacks them).

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Receive slots per syscall.
const RECV_SLOTS: usize = 8;
/// Largest GSO super-datagram.
const MAX_GSO_BYTES: usize = 65_000;

/// Receive buffers for one socket.
#[derive(Debug)]
pub(crate) struct RecvBufs {
    bufs: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
}

impl RecvBufs {
    pub(crate) fn new(state: &UdpSocketState) -> Self {
        let slot = (state.gro_segments().max(1) * 2048).min(65_536);
        RecvBufs { bufs: (0..RECV_SLOTS).map(|_| vec![0u8; slot]).collect(), meta: vec![RecvMeta::default(); RECV_SLOTS] }
    }

    /// One non-blocking batched read; calls `each(datagram, from)` per datagram
    /// (GRO super-buffers are split by their stride). `Ok(0)` = nothing waiting.
    pub(crate) fn recv(&mut self, udp: &UdpSocket, state: &UdpSocketState, mut each: impl FnMut(&[u8], SocketAddr)) -> io::Result<usize> {
        let mut iovs: Vec<IoSliceMut<'_>> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let meta = &mut self.meta;
        let n = match udp.try_io(Interest::READABLE, || state.recv(udp.into(), &mut iovs, meta)) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        drop(iovs);
        let mut count = 0;
        for (m, buf) in self.meta.iter().zip(&self.bufs).take(n) {
            let data = buf.get(..m.len).unwrap_or_default();
            let stride = if m.stride == 0 { data.len().max(1) } else { m.stride };
            for d in data.chunks(stride) {
                each(d, m.addr);
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Sends the datagrams laid end to end in `buf` with lengths `lens` (all to `to`),
/// each run of equal sizes (the last may be shorter) as one GSO batch, sliced straight
/// from `buf`. Waits for writability; other send errors drop the batch (UDP).
pub(crate) async fn send_all(udp: &UdpSocket, state: &UdpSocketState, to: SocketAddr, buf: &[u8], lens: &[usize]) -> io::Result<()> {
    let max_segs = state.max_gso_segments().max(1);
    let (mut i, mut off) = (0, 0);
    while i < lens.len() {
        let seg = lens[i];
        let mut j = i + 1;
        let mut bytes = seg;
        if let Some(cap) = MAX_GSO_BYTES.checked_div(seg) {
            let cap = cap.clamp(1, max_segs);
            // a run of equal sizes; the last segment may be shorter
            while j < lens.len() && j - i < cap && lens[j - 1] == seg && lens[j] <= seg {
                bytes += lens[j];
                j += 1;
            }
        }
        let Some(contents) = buf.get(off..off + bytes) else { return Ok(()) };
        let segment_size = (j - i > 1).then_some(seg);
        let t = Transmit { destination: to, ecn: None, contents, segment_size, src_ip: None };
        send_one(udp, state, &t).await?;
        off += bytes;
        i = j;
    }
    Ok(())
}

async fn send_one(udp: &UdpSocket, state: &UdpSocketState, t: &Transmit<'_>) -> io::Result<()> {
    // bounded: each round either sends, fails, or waits for writability
    for _ in 0..1_000 {
        udp.writable().await?;
        match udp.try_io(Interest::WRITABLE, || state.send(udp.into(), t)) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
