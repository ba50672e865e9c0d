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
    let mut gso = Vec::with_capacity(65_536);
    let mut batch: Vec<Vec<u8>> = (0..SEND_BATCH).map(|_| Vec::with_capacity(2048)).collect();
    loop {
        let ids: Vec<u32> = lock(&inner.dirty).drain().collect();
        for id in ids {
            let Some(s) = lock(&inner.streams).get(&id).cloned() else { continue };
            if let Err(e) = flush_stream(&inner, &s, &mut batch, &mut gso).await {
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

/// Sends everything `s` wants to send now.
async fn flush_stream(inner: &Inner, s: &SharedStream, batch: &mut [Vec<u8>], gso: &mut Vec<u8>) -> io::Result<()> {
    // bounded: each round sends up to SEND_BATCH; the windows bound the rounds
    for _ in 0..100_000 {
        let (addr, n) = {
            let now = Instant::now();
            let mut st = lock(s);
            let Some(addr) = st.remote else { return Ok(()) };
            let mut n = 0;
            while n < batch.len() && st.conn.poll_transmit(now, &mut batch[n]) {
                n += 1;
            }
            (addr, n)
        };
        if n == 0 {
            return Ok(());
        }
        let out: Vec<&[u8]> = batch[..n].iter().filter(|_| !inner.inject_loss(true)).map(|d| &d[..]).collect();
        send_all(&inner.udp, &inner.state, addr, &out, gso).await?;
    }
    Ok(())
}
