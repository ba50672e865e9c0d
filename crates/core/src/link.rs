//! The channels between a muxer's driver and its users, in one small allocation.
//!
//! A connection needs three: commands from [`MuxControl`](crate::MuxControl) handles
//! to the driver (bounded, senders wait for room), inbound streams from the driver to
//! the swarm (bounded, the driver's `try_send` fails when full) and the "connection
//! ended" flag. Three tokio channels cost about 3.7 KiB per connection (each `mpsc`
//! allocates a 32-slot block up front and cache-padded state; `watch` carries eight
//! notifiers) whether or not a stream is ever opened. Here they share one `Arc` of
//! about 200 bytes; the queues allocate only while they hold something and give
//! their memory back when they drain, so an idle connection holds none.
//!
//! The method names and error types follow tokio's (`poll_recv`, `recv`,
//! `try_send` with [`TrySendError`], `send`), so drivers written against the tokio
//! channels keep compiling.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;
pub use tokio::sync::mpsc::error::TrySendError;

use crate::muxer::{IncomingStream, MuxCommand};

/// Commands that may wait in the queue; `MuxControl::open` waits for room beyond.
pub(crate) const COMMAND_CAPACITY: usize = 32;

pub(crate) struct Link {
    state: Mutex<State>,
    /// Wakes senders waiting for command room (or for the driver to go away).
    room: Notify,
    /// Wakes `closed()` waiters.
    ended: Notify,
}

struct State {
    commands: VecDeque<MuxCommand>,
    inbound: VecDeque<IncomingStream>,
    inbound_capacity: usize,
    commands_waker: Option<Waker>,
    inbound_waker: Option<Waker>,
    /// Live `MuxControl` handles (the command senders).
    controls: usize,
    /// Live inbound senders.
    inbound_senders: usize,
    commands_open: bool,
    inbound_open: bool,
    closed: bool,
}

/// Takes the front of `queue`, freeing its memory once it is empty.
fn pop<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let item = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    item
}

impl Link {
    pub(crate) fn new(inbound_capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                commands: VecDeque::new(),
                inbound: VecDeque::new(),
                inbound_capacity: inbound_capacity.max(1),
                commands_waker: None,
                inbound_waker: None,
                controls: 1,
                inbound_senders: 1,
                commands_open: true,
                inbound_open: true,
                closed: false,
            }),
            room: Notify::new(),
            ended: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a command, waiting for room; gives it back if the driver is gone.
    pub(crate) async fn send_command(&self, command: MuxCommand) -> Result<(), MuxCommand> {
        loop {
            let changed = self.room.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.commands_open {
                    return Err(command);
                }
                if state.commands.len() < COMMAND_CAPACITY {
                    state.commands.push_back(command);
                    if let Some(w) = state.commands_waker.take() {
                        w.wake();
                    }
                    return Ok(());
                }
            }
            changed.await;
        }
    }

    pub(crate) fn add_control(&self) {
        self.lock().controls += 1;
    }

    pub(crate) fn drop_control(&self) {
        let mut state = self.lock();
        state.controls -= 1;
        if state.controls == 0
            && let Some(w) = state.commands_waker.take()
        {
            w.wake();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Resolves once the driver has marked the connection ended (or is gone).
    pub(crate) async fn closed(&self) {
        loop {
            let changed = self.ended.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_closed() {
                return;
            }
            changed.await;
        }
    }

    fn set_closed(&self) {
        self.lock().closed = true;
        self.ended.notify_waiters();
    }
}

/// The driver's end of the command queue.
pub struct CommandReceiver {
    link: Arc<Link>,
}

impl std::fmt::Debug for CommandReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandReceiver").finish_non_exhaustive()
    }
}

impl CommandReceiver {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        Self { link }
    }

    /// The next command; `Ready(None)` once every control handle is gone and the
    /// queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<MuxCommand>> {
        let mut state = self.link.lock();
        if let Some(command) = pop(&mut state.commands) {
            drop(state);
            // Room for a waiting sender.
            self.link.room.notify_one();
            return Poll::Ready(Some(command));
        }
        if state.controls == 0 {
            return Poll::Ready(None);
        }
        state.commands_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits for the next command (`None` once every control handle is gone).
    pub async fn recv(&mut self) -> Option<MuxCommand> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for CommandReceiver {
    fn drop(&mut self) {
        let commands = {
            let mut state = self.link.lock();
            state.commands_open = false;
            std::mem::take(&mut state.commands)
        };
        // Their reply senders drop here: the requesters see the connection closed.
        drop(commands);
        self.link.room.notify_waiters();
    }
}

/// The driver's end of the inbound stream queue (cloneable).
pub struct InboundSender {
    link: Arc<Link>,
}

impl std::fmt::Debug for InboundSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundSender").finish_non_exhaustive()
    }
}

impl InboundSender {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        Self { link }
    }

    /// Queues an inbound stream; fails when the backlog is full or the receiver gone.
    pub fn try_send(&self, stream: IncomingStream) -> Result<(), TrySendError<IncomingStream>> {
        let mut state = self.link.lock();
        if !state.inbound_open {
            return Err(TrySendError::Closed(stream));
        }
        if state.inbound.len() >= state.inbound_capacity {
            return Err(TrySendError::Full(stream));
        }
        state.inbound.push_back(stream);
        if let Some(w) = state.inbound_waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiving end is gone.
    pub fn is_closed(&self) -> bool {
        !self.link.lock().inbound_open
    }
}

impl Clone for InboundSender {
    fn clone(&self) -> Self {
        self.link.lock().inbound_senders += 1;
        Self { link: self.link.clone() }
    }
}

impl Drop for InboundSender {
    fn drop(&mut self) {
        let mut state = self.link.lock();
        state.inbound_senders -= 1;
        if state.inbound_senders == 0
            && let Some(w) = state.inbound_waker.take()
        {
            w.wake();
        }
    }
}

/// The user's end of the inbound stream queue.
pub struct InboundReceiver {
    link: Arc<Link>,
}

impl std::fmt::Debug for InboundReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundReceiver").finish_non_exhaustive()
    }
}

impl InboundReceiver {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        Self { link }
    }

    /// The next inbound stream; `Ready(None)` once every sender is gone and the
    /// queue is empty.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<IncomingStream>> {
        let mut state = self.link.lock();
        if let Some(stream) = pop(&mut state.inbound) {
            return Poll::Ready(Some(stream));
        }
        if state.inbound_senders == 0 {
            return Poll::Ready(None);
        }
        state.inbound_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits for the next inbound stream (`None` once the connection has ended).
    pub async fn recv(&mut self) -> Option<IncomingStream> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for InboundReceiver {
    fn drop(&mut self) {
        let queued = {
            let mut state = self.link.lock();
            state.inbound_open = false;
            std::mem::take(&mut state.inbound)
        };
        // Dropped outside the lock: dropping a stream may run its muxer's code.
        drop(queued);
    }
}

/// The driver's end of the "connection ended" flag. Dropping it also marks the
/// connection ended.
pub struct ClosedSender {
    link: Arc<Link>,
}

impl std::fmt::Debug for ClosedSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedSender").finish_non_exhaustive()
    }
}

impl ClosedSender {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        Self { link }
    }

    /// Marks the connection ended when `closed` is true (as `watch::Sender::send`
    /// did with the flag); never fails.
    pub fn send(&self, closed: bool) -> Result<(), std::convert::Infallible> {
        if closed {
            self.link.set_closed();
        }
        Ok(())
    }
}

impl Drop for ClosedSender {
    fn drop(&mut self) {
        self.link.set_closed();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::muxer::{IncomingStream, MuxCommand, MuxError, MuxedConnection, StreamNaming};

    fn stream() -> IncomingStream {
        IncomingStream::anonymous(Box::new(tokio::io::empty()))
    }

    #[tokio::test]
    async fn inbound_is_bounded_and_ends_with_its_senders() {
        let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, 2);
        let mut inbound = handles.inbound;
        assert!(ends.inbound.try_send(stream()).is_ok());
        let second = ends.inbound.clone();
        assert!(second.try_send(stream()).is_ok());
        assert!(matches!(ends.inbound.try_send(stream()), Err(super::TrySendError::Full(_))));
        assert!(inbound.recv().await.is_some());
        assert!(inbound.recv().await.is_some());
        // Drained: the queue gave its memory back.
        assert_eq!(ends.inbound.link.lock().inbound.capacity(), 0);
        drop(ends.inbound);
        // One sender left: still open.
        assert!(tokio::time::timeout(Duration::from_millis(20), inbound.recv()).await.is_err());
        drop(second);
        assert!(inbound.recv().await.is_none());
        drop(inbound);
        drop(handles.control);
    }

    #[tokio::test]
    async fn a_dropped_receiver_refuses_streams() {
        let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, 4);
        drop(handles.inbound);
        assert!(matches!(ends.inbound.try_send(stream()), Err(super::TrySendError::Closed(_))));
        assert!(ends.inbound.is_closed());
    }

    #[tokio::test]
    async fn commands_reach_the_driver_and_end_with_the_controls() {
        let (handles, mut ends) = MuxedConnection::channel(StreamNaming::Negotiated, 4);
        let control = handles.control.clone();
        let opener = tokio::spawn(async move { control.open_stream().await.map(|_| ()) });
        match tokio::time::timeout(Duration::from_secs(5), ends.commands.recv()).await.unwrap() {
            Some(MuxCommand::Open { protocol: None, reply }) => {
                let _ = reply.send(Err(MuxError::NotSupported));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(opener.await.unwrap(), Err(MuxError::NotSupported)));
        drop(handles.control);
        assert!(tokio::time::timeout(Duration::from_secs(5), ends.commands.recv()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn senders_wait_for_room_and_fail_once_the_driver_is_gone() {
        let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, 4);
        let mut waiting = Vec::new();
        for _ in 0..super::COMMAND_CAPACITY + 1 {
            let control = handles.control.clone();
            waiting.push(tokio::spawn(async move { control.open_stream().await.map(|_| ()) }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(ends.commands.link.lock().commands.len(), super::COMMAND_CAPACITY);
        // The driver goes away: queued and waiting opens all fail.
        drop(ends);
        for w in waiting {
            let r = tokio::time::timeout(Duration::from_secs(5), w).await.unwrap().unwrap();
            assert!(matches!(r, Err(MuxError::Closed)));
        }
        // Dropping the driver's ends marked the connection ended.
        assert!(handles.control.is_closed());
        tokio::time::timeout(Duration::from_secs(5), handles.control.closed()).await.unwrap();
    }

    #[tokio::test]
    async fn closed_wakes_every_waiter() {
        let (handles, ends) = MuxedConnection::channel(StreamNaming::Negotiated, 4);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let c = handles.control.clone();
                tokio::spawn(async move { c.closed().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!handles.control.is_closed());
        let _ = ends.closed.send(true);
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(5), w).await.unwrap().unwrap();
        }
        assert!(handles.control.is_closed());
    }
}
