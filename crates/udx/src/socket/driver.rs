//! The socket's driver task: receive, dispatch, run timers, transmit.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;

use super::batch_io::{RecvBufs, send_all};
use super::{Inner, RawDatagram, SharedStream, lock};

/// Batched reads per wake-up before streams are flushed.
const RECV_ROUNDS: usize = 8;
/// Datagrams taken from one stream per lock.
const SEND_BATCH: usize = 64;

pub(super) async fn run(inner: Arc<Inner>) {
    let mut bufs = RecvBufs::new(&inner.state);
    let mut batch = Batch::new();
    loop {
        let ids: Vec<u32> = lock(&inner.dirty).drain().collect();
        for id in ids {
            let Some(s) = lock(&inner.streams).get(&id).cloned() else { continue };
            if let Err(e) = flush_stream(&inner, &s, &mut batch).await {
                tracing::debug!(error = %e, "udx: send failed");
            }
            settle(&inner, id, &s);
        }
        if inner.shutdown.load(Ordering::Acquire) {
            break; // every Socket and Stream handle is gone; final packets are out
        }
        let deadline = lock(&inner.timers).first().map(|(t, _)| *t);
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = inner.udp.readable() => {
                if r.is_ok() {
                    recv_batch(&inner, &mut bufs);
                }
            }
            _ = inner.wake.notified() => {}
            _ = sleep => {}
        }
        run_timers(&inner);
    }
}

/// After a flush: re-register the stream's timer, or forget a finished stream.
fn settle(inner: &Inner, id: u32, s: &SharedStream) {
    let mut st = lock(s);
    let gone = st.handle_dropped && (st.conn.close_reason().is_some() || st.remote.is_none());
    let next = if gone { None } else { st.conn.poll_timeout() };
    if next != st.scheduled {
        let mut timers = lock(&inner.timers);
        if let Some(old) = st.scheduled.take() {
            timers.remove(&(old, id));
        }
        if let Some(t) = next {
            timers.insert((t, id));
        }
        st.scheduled = next;
    }
    drop(st);
    if gone {
        lock(&inner.streams).remove(&id);
    }
}

/// Fires every due timer and marks those streams for a flush.
fn run_timers(inner: &Inner) {
    let now = Instant::now();
    // bounded: one entry per stream
    loop {
        let due = {
            let mut timers = lock(&inner.timers);
            match timers.first().copied() {
                Some((t, id)) if t <= now => {
                    timers.remove(&(t, id));
                    id
                }
                _ => break,
            }
        };
        let Some(s) = lock(&inner.streams).get(&due).cloned() else { continue };
        let mut st = lock(&s);
        st.scheduled = None;
        st.conn.handle_timeout(now);
        st.wake();
        drop(st);
        lock(&inner.dirty).insert(due);
    }
}

fn recv_batch(inner: &Inner, bufs: &mut RecvBufs) {
    let mut touched = std::collections::HashSet::new();
    recv_rounds(inner, bufs, &mut touched);
    if !touched.is_empty() {
        lock(&inner.dirty).extend(touched);
    }
}

fn recv_rounds(inner: &Inner, bufs: &mut RecvBufs, touched: &mut std::collections::HashSet<u32>) {
    for _ in 0..RECV_ROUNDS {
        let now = Instant::now();
        let res = bufs.recv(&inner.udp, &inner.state, |d, from| match inner.stream_for(d) {
            Some(s) => {
                if inner.inject_loss(false) {
                    return;
                }
                let mut st = lock(&s);
                if st.remote.is_none() && st.first_from.is_none() {
                    st.first_from = Some(from);
                }
                if let Err(e) = st.conn.handle_datagram(now, d) {
                    tracing::trace!(error = %e, "udx: packet dropped");
                }
                st.wake();
                let id = st.conn.local_id();
                drop(st);
                touched.insert(id);
            }
            None => deliver_raw(inner, d, from),
        });
        match res {
            Ok(0) => return,
            Ok(_) => {}
            // ICMP errors (ECONNREFUSED) surface here on Linux; keep going.
            Err(e) => tracing::trace!(error = %e, "udx: recv error"),
        }
    }
}

fn deliver_raw(inner: &Inner, d: &[u8], from: SocketAddr) {
    let dg = RawDatagram { data: Bytes::copy_from_slice(d), from };
    if inner.raw_tx.try_send(dg).is_err() {
        inner.raw_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends everything `s` wants to send now. The datagrams are written end to end into
/// `batch` (one allocation, reused), so a run of equal sizes goes to GSO without a copy.
async fn flush_stream(inner: &Inner, s: &SharedStream, batch: &mut Batch) -> io::Result<()> {
    // bounded: each round sends up to SEND_BATCH; the windows bound the rounds
    for _ in 0..100_000 {
        batch.clear();
        let addr = {
            let now = Instant::now();
            let mut st = lock(s);
            let Some(addr) = st.remote else { return Ok(()) };
            while batch.lens.len() < SEND_BATCH {
                let Some(len) = st.conn.poll_transmit_append(now, &mut batch.buf) else { break };
                batch.lens.push(len);
            }
            addr
        };
        if batch.lens.is_empty() {
            return Ok(());
        }
        if lock(&inner.loss).is_some() {
            batch.drop_lost(|| inner.inject_loss(true));
        }
        send_all(&inner.udp, &inner.state, addr, &batch.buf, &batch.lens).await?;
    }
    Ok(())
}

/// Datagrams laid end to end, and their lengths.
pub(super) struct Batch {
    buf: Vec<u8>,
    lens: Vec<usize>,
}

impl Batch {
    fn new() -> Self {
        Batch { buf: Vec::with_capacity(SEND_BATCH * 1600), lens: Vec::with_capacity(SEND_BATCH) }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.lens.clear();
    }

    /// The loss hook: removes the datagrams `lost()` picks.
    fn drop_lost(&mut self, mut lost: impl FnMut() -> bool) {
        let (mut read, mut write) = (0, 0);
        let mut kept = Vec::with_capacity(self.lens.len());
        for &len in &self.lens {
            if !lost() {
                self.buf.copy_within(read..read + len, write);
                write += len;
                kept.push(len);
            }
            read += len;
        }
        self.buf.truncate(write);
        self.lens = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_hook_removes_datagrams_and_keeps_the_rest_in_order() {
        let mut b = Batch::new();
        for (i, len) in [3usize, 3, 2, 3].into_iter().enumerate() {
            b.buf.extend(std::iter::repeat_n(i as u8, len));
            b.lens.push(len);
        }
        let mut n = 0;
        b.drop_lost(|| {
            n += 1;
            n == 2
        });
        assert_eq!(b.lens, [3, 2, 3]);
        assert_eq!(b.buf, [0, 0, 0, 2, 2, 3, 3, 3]);
    }
}
