//! A connection's bounded outbound queue.
//!
//! Producers (the socket's emits, broadcasts from any thread, the connection actor's control
//! packets) push encoded frames; the one consumer is the transport: the websocket's task, or
//! the polling GET that is parked. Bytes are shared (`Bytes` / `ByteString`), so a broadcast
//! frame is never copied per member.
//!
//! One byte budget bounds the whole queue: every frame costs its length plus
//! [`ENTRY_OVERHEAD`] (the queue entry itself), so even a flood of empty frames is bounded.
//! Overflow rules per class:
//! - protocol frames (the open packet, the one pending ping, a noop) are bounded by
//!   construction and always enter;
//! - control and reliable frames beyond the budget are refused ([`Overflow`]): the caller
//!   disconnects the client as a slow consumer;
//! - volatile frames are dropped unless the transport can write now;
//! - latest frames replace the queued frame of the same key (at most one per key).
//!
//! How many packets are queued is not a test of anything: a burst that fits the budget is
//! delivered whole, and a consumer that stops draining is caught by the budget or by its
//! transport's write timeout.
//!
//! Write-through: a plain-TCP websocket lends its socket ([`Wire`]) whenever its task is done
//! for now. A producer that then finds nothing queued writes its frames straight to the
//! socket, on its own thread, whatever their class: a match's tick reaches each member in one
//! `writev`, with no wake-up of the member's task. What the socket does not take goes to the
//! task (the unwritten rest of a frame first, then the queue), so the stream keeps its order.
//! Under a [`Cork`](super::cork::Cork) those frames are queued instead, and written in one
//! go when the cork is dropped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use super::cork;
use super::metrics::OutboxCounters;
use super::websocket::{Wire, Written, MAX_FRAMES};

use bytes::Bytes;
use bytestring::ByteString;
use parking_lot::Mutex;
use tickwire_protocol::engineio::TransportKind;
use tokio::sync::Notify;

/// One transport-level message: a websocket frame, or one packet of a polling body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    /// A text frame, Engine.IO type digit included (`4...` for a message).
    Text(ByteString),
    /// A binary message (no prefix on a websocket; `b` + base64 on polling).
    Binary(Bytes),
}

impl Frame {
    /// Bytes this frame holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        match self {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) => b.len(),
        }
    }
}

/// What one queued frame costs the budget beyond its bytes: the queue entry holding it.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// What `frames` cost the byte budget.
#[inline]
pub(crate) fn cost(frames: &[Frame]) -> usize {
    frames.iter().map(|f| f.len() + ENTRY_OVERHEAD).sum()
}

/// How a frame behaves when the client cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Engine.IO's own frames, bounded by construction (the open packet, the one pending
    /// ping, a noop): never refused.
    Protocol,
    /// Socket.IO control packets (CONNECT, CONNECT_ERROR, DISCONNECT, acks): counted;
    /// overflow disconnects the client.
    Control,
    /// Events and broadcasts: counted; overflow disconnects the client.
    Reliable,
    /// Dropped when the transport cannot write now.
    Volatile,
}

/// The reliable budget is exhausted: disconnect the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overflow;

/// What the polling transport writes when the session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Farewell {
    /// `1`: the server closed the session.
    Close,
    /// `6`: the client closed it; end the poll cleanly.
    Noop,
}

#[derive(Debug)]
struct Entry {
    frame: Frame,
    /// Set for the latest class: a newer frame with the same key replaces this one.
    latest: Option<u64>,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Entry>,
    bytes: usize,
    transport: TransportKind,
    /// A GET is parked waiting for frames.
    poll_parked: bool,
    /// Answer polls with `6` (an upgrade is completing).
    noop_polls: bool,
    closed: Option<Farewell>,
    /// The farewell went out on a poll: later polls find the session gone.
    farewell_sent: bool,
    /// The websocket body waiting for frames (it polls; it never parks a task of its own).
    ws_waker: Option<Waker>,
    /// The websocket's socket, lent while its task is not running and holds no unwritten
    /// bytes: a producer that finds nothing queued writes straight to it.
    wire: Option<Wire>,
    /// What a direct write left unwritten (the rest of its frames, framed): the task writes
    /// it before anything else. Boxed once more, so that the field is one pointer: it is
    /// rarely set, and every connection carries it.
    spill: Option<Box<Box<[u8]>>>,
    /// A thread's cork holds what is queued: it writes it when it is dropped.
    corked: bool,
}

impl State {
    /// Who to wake after a change: the websocket body if it waits, else (on polling) the
    /// parked GET through `notify`.
    fn consumer(&mut self) -> Wake {
        match self.ws_waker.take() {
            Some(waker) => Wake::Ws(waker),
            None if self.transport == TransportKind::Polling => Wake::Poll,
            None => Wake::Nobody,
        }
    }
}

enum Wake {
    Ws(Waker),
    Poll,
    Nobody,
}

/// Frames the websocket body took in one go (swapped out under the lock, written outside it).
#[derive(Debug, Default)]
pub(crate) struct Drained(VecDeque<Entry>);

impl Drained {
    /// Hand each frame to `f`, oldest first. The buffer goes too: the next push allocates
    /// afresh, and an idle connection holds no queue memory at all.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&Frame)) {
        for entry in std::mem::take(&mut self.0) {
            f(&entry.frame);
        }
    }
}

/// The bounded outbound queue of one connection.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Wakes a parked poll when there is something to take (the websocket registers a waker).
    notify: Notify,
    max_bytes: usize,
    /// A POST is being served (Engine.IO allows one at a time).
    pub(crate) post_in_flight: AtomicBool,
    slow: AtomicBool,
    pub(crate) stats: Arc<OutboxCounters>,
}

/// What a parked poll receives.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PollBatch {
    /// Frames to write (possibly followed by a farewell when the session closed).
    Frames(Vec<Frame>, Option<Farewell>),
    /// Answer `6`: the session moved to websocket.
    Noop,
    /// The session closed and its farewell was already delivered: unknown sid.
    Gone,
}

impl Outbox {
    pub(crate) fn new(
        transport: TransportKind,
        max_bytes: usize,
        stats: Arc<OutboxCounters>,
    ) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                transport,
                poll_parked: false,
                noop_polls: false,
                closed: None,
                farewell_sent: false,
                ws_waker: None,
                wire: None,
                spill: None,
                corked: false,
            }),
            notify: Notify::new(),
            max_bytes,
            post_in_flight: AtomicBool::new(false),
            slow: AtomicBool::new(false),
            stats,
        }
    }

    /// Queue `frames` as one unit (a packet and its attachments stay together and in order).
    pub(crate) fn push(self: &Arc<Self>, frames: &[Frame], class: Class) -> Result<(), Overflow> {
        let size = cost(frames);
        let wake = {
            let mut st = self.state.lock();
            if st.closed.is_some() {
                return Ok(());
            }
            let corked = self.corks(&mut st, size);
            if !corked {
                if let Some(wake) = self.write_through(&mut st, frames) {
                    drop(st);
                    self.wake(wake);
                    return Ok(());
                }
                match class {
                    Class::Protocol => {}
                    Class::Control | Class::Reliable => {
                        if st.bytes + size > self.max_bytes {
                            return Err(Overflow);
                        }
                    }
                    Class::Volatile => {
                        let writable = match st.transport {
                            TransportKind::Polling => st.poll_parked && st.queue.is_empty(),
                            TransportKind::WebSocket => st.queue.is_empty(),
                        };
                        if !writable {
                            self.stats.dropped_volatile.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                    }
                }
            }
            st.queue.extend(frames.iter().cloned().map(|frame| Entry {
                frame,
                latest: None,
            }));
            st.bytes += size;
            if corked {
                return Ok(());
            }
            st.consumer()
        };
        self.wake(wake);
        Ok(())
    }

    /// Whether frames costing `size` that would go straight to the lent wire are held for
    /// this thread's [`Cork`](super::cork::Cork) instead (or for another thread's that holds
    /// this queue already). Never past the byte budget: what is held is written first.
    fn corks(self: &Arc<Self>, st: &mut State, size: usize) -> bool {
        if st.wire.is_none() || st.transport != TransportKind::WebSocket {
            return false;
        }
        if st.bytes + size > self.max_bytes {
            let wake = self.write_held(st);
            self.wake(wake);
            return false;
        }
        if !st.corked {
            if !cork::hold(self) {
                return false;
            }
            st.corked = true;
        }
        true
    }

    /// The cork that held this queue is dropped: write what it held.
    pub(super) fn uncork(&self) {
        let wake = {
            let mut st = self.state.lock();
            st.corked = false;
            self.write_held(&mut st)
        };
        self.wake(wake);
    }

    /// Write what is queued straight to the lent wire, up to [`MAX_FRAMES`] frames a system
    /// call: who to wake for what the socket did not take.
    fn write_held(&self, st: &mut State) -> Wake {
        while !st.queue.is_empty() {
            let Some(wire) = st.wire.as_ref() else {
                break;
            };
            let count = st.queue.len().min(MAX_FRAMES);
            let written = wire.write(st.queue.range(..count).map(|entry| &entry.frame));
            let (n, rest) = match written {
                Written::All(n) => (n, None),
                Written::Part(n, rest) => (n, Some(rest)),
                Written::Nothing => break,
            };
            self.stats.bytes_out.inc_by(n as u64);
            for entry in st.queue.drain(..count) {
                st.bytes = st.bytes.saturating_sub(entry.frame.len() + ENTRY_OVERHEAD);
            }
            if let Some(rest) = rest {
                st.spill = Some(Box::new(rest));
                st.wire = None;
            }
        }
        if st.queue.is_empty() && st.spill.is_none() {
            // As when the task drains it: an idle connection holds no queue memory.
            st.queue = VecDeque::new();
            return Wake::Nobody;
        }
        st.consumer()
    }

    /// Write `frames` straight to the lent wire if nothing is queued before them: who to wake
    /// once they are dealt with (the task, for a rest the socket did not take), or `None`
    /// when they are to be queued after all.
    fn write_through(&self, st: &mut State, frames: &[Frame]) -> Option<Wake> {
        if !st.queue.is_empty() || st.transport != TransportKind::WebSocket {
            return None;
        }
        match st.wire.as_ref()?.write(frames.iter()) {
            Written::All(n) => {
                self.stats.bytes_out.inc_by(n as u64);
                Some(Wake::Nobody)
            }
            Written::Part(n, rest) => {
                self.stats.bytes_out.inc_by(n as u64);
                // The task writes the rest first, and keeps the wire until it is out.
                st.spill = Some(Box::new(rest));
                st.wire = None;
                Some(st.consumer())
            }
            Written::Nothing => None,
        }
    }

    /// The websocket's task is done for now and holds no unwritten bytes: producers may
    /// write straight to `wire` until it runs again. Nothing is lent while frames wait.
    pub(crate) fn lend_wire(&self, wire: &Wire) {
        let mut st = self.state.lock();
        if st.queue.is_empty() && st.spill.is_none() && st.closed.is_none() {
            st.wire = Some(wire.clone());
        }
    }

    /// The websocket's task runs: the wire is its own again. Returns what a direct write
    /// left unwritten, to be written before anything else.
    ///
    /// The task drains the queue before it stops (its last [`Outbox::poll_ws`] asks to be
    /// woken again), so what is pushed meanwhile does not wake it: a message its own turn
    /// answers (an ack) is written in that turn, without polling the task once more.
    pub(crate) fn reclaim_wire(&self) -> Option<Box<[u8]>> {
        let mut st = self.state.lock();
        st.wire = None;
        st.ws_waker = None;
        st.spill.take().map(|rest| *rest)
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Ws(waker) => waker.wake(),
            Wake::Poll => self.notify.notify_one(),
            Wake::Nobody => {}
        }
    }

    /// Queue the newest state for `key` (latest class): an older frame of the same key that
    /// is still queued is dropped, so a lagging client skips stale snapshots instead of
    /// queuing them. Never refused; at most one frame per key is ever queued.
    pub(crate) fn push_latest(self: &Arc<Self>, key: u64, frame: Frame) {
        let wake = {
            let mut st = self.state.lock();
            if st.closed.is_some() {
                return;
            }
            let corked = self.corks(&mut st, frame.len() + ENTRY_OVERHEAD);
            if !corked {
                if let Some(wake) = self.write_through(&mut st, std::slice::from_ref(&frame)) {
                    drop(st);
                    self.wake(wake);
                    return;
                }
            }
            if let Some(pos) = st.queue.iter().rposition(|e| e.latest == Some(key)) {
                if let Some(old) = st.queue.remove(pos) {
                    st.bytes -= old.frame.len() + ENTRY_OVERHEAD;
                    self.stats.coalesced_latest.fetch_add(1, Ordering::Relaxed);
                }
            }
            st.bytes += frame.len() + ENTRY_OVERHEAD;
            st.queue.push_back(Entry {
                frame,
                latest: Some(key),
            });
            if corked {
                return;
            }
            st.consumer()
        };
        self.wake(wake);
    }

    /// Frames waiting, and what they cost the byte budget.
    pub(crate) fn depth(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.queue.len(), st.bytes)
    }

    /// Close the queue: consumers drain what is queued, then stop. Polling ends with
    /// `farewell`.
    pub(crate) fn close(&self, farewell: Farewell) {
        let waker = {
            let mut st = self.state.lock();
            if st.closed.is_none() {
                st.closed = Some(farewell);
            }
            st.ws_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Flag the client as a slow consumer; true only the first time.
    pub(crate) fn mark_slow(&self) -> bool {
        !self.slow.swap(true, Ordering::AcqRel)
    }

    /// Whether a poll is parked now.
    pub(crate) fn poll_parked(&self) -> bool {
        self.state.lock().poll_parked
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed.is_some()
    }

    pub(crate) fn transport(&self) -> TransportKind {
        self.state.lock().transport
    }

    /// The session moved to `transport`.
    pub(crate) fn set_transport(&self, transport: TransportKind) {
        let waker = {
            let mut st = self.state.lock();
            st.transport = transport;
            st.noop_polls = false;
            st.ws_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Answer polls with noop from now on (upgrade probe succeeded).
    pub(crate) fn set_noop_polls(&self) {
        self.state.lock().noop_polls = true;
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Mark a poll as parked or not; returns whether one already was.
    pub(crate) fn set_poll_parked(&self, parked: bool) -> bool {
        std::mem::replace(&mut self.state.lock().poll_parked, parked)
    }

    /// Wait for the next polling answer, taking at most `max_bytes` of encoded frames.
    pub(crate) async fn next_poll(&self, max_bytes: usize) -> PollBatch {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state.lock();
                if st.noop_polls || st.transport != TransportKind::Polling {
                    return PollBatch::Noop;
                }
                if st.closed.is_some() && st.farewell_sent {
                    return PollBatch::Gone;
                }
                if !st.queue.is_empty() || st.closed.is_some() {
                    let frames = take_frames(&mut st, max_bytes, true);
                    let farewell = if st.queue.is_empty() { st.closed } else { None };
                    st.farewell_sent |= farewell.is_some();
                    return PollBatch::Frames(frames, farewell);
                }
            }
            notified.await;
        }
    }

    /// Whether the client was cut as a slow consumer.
    pub(crate) fn is_slow(&self) -> bool {
        self.slow.load(Ordering::Acquire)
    }

    /// Take every queued frame for the websocket into `into` (an O(1) swap under the lock):
    /// `Ready(true)` with frames, `Ready(false)` once closed and drained, else `Pending`
    /// with `cx`'s waker kept until the next push or close.
    pub(crate) fn poll_ws(&self, cx: &mut Context<'_>, into: &mut Drained) -> Poll<bool> {
        let mut st = self.state.lock();
        if !st.queue.is_empty() {
            std::mem::swap(&mut st.queue, &mut into.0);
            st.bytes = 0;
            return Poll::Ready(true);
        }
        if st.closed.is_some() {
            return Poll::Ready(false);
        }
        match &st.ws_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => st.ws_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Take whole frames from the front, up to `max_bytes` of polling encoding (at least one).
fn take_frames(st: &mut State, max_bytes: usize, polling: bool) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut budget = 0usize;
    while let Some(front) = st.queue.front() {
        let cost = if polling {
            match &front.frame {
                Frame::Text(s) => s.len() + 1,
                Frame::Binary(b) => {
                    tickwire_protocol::engineio::payload::binary_encoded_len(b.len())
                }
            }
        } else {
            front.frame.len()
        };
        if !out.is_empty() && budget + cost > max_bytes {
            break;
        }
        budget += cost;
        if let Some(entry) = st.queue.pop_front() {
            st.bytes -= entry.frame.len() + ENTRY_OVERHEAD;
            out.push(entry.frame);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection holds its outbox behind an `Arc` (16 bytes of counts) for its life:
    /// up to 144 bytes it takes the allocator's 160-byte class, past that 192
    /// (benches/README, "Idle memory, byte by byte").
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_outbox_stays_in_its_size_class() {
        let size = std::mem::size_of::<Outbox>();
        assert!(size <= 144, "an outbox is {size} bytes");
    }

    fn text(s: &str) -> Frame {
        Frame::Text(ByteString::from(s.to_owned()))
    }

    /// A budget of exactly `frames` frames of `len` bytes each.
    fn budget(frames: usize, len: usize) -> usize {
        frames * (len + ENTRY_OVERHEAD)
    }

    #[test]
    fn control_and_reliable_frames_share_the_byte_budget_and_protocol_frames_are_exempt() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            budget(2, 2),
            Default::default(),
        ));
        assert!(outbox
            .push(&[text("4a"), text("4b")], Class::Reliable)
            .is_ok());
        assert_eq!(outbox.push(&[text("4c")], Class::Reliable), Err(Overflow));
        // An ack is not exempt: it counts like any other frame.
        assert_eq!(outbox.push(&[text("43")], Class::Control), Err(Overflow));
        // The one pending ping is bounded by construction.
        assert!(outbox.push(&[text("2")], Class::Protocol).is_ok());
        assert_eq!(outbox.depth().0, 3);
    }

    #[test]
    fn byte_budget_is_enforced() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            budget(1, 4),
            Default::default(),
        ));
        assert!(outbox.push(&[text("4abc")], Class::Reliable).is_ok());
        assert_eq!(outbox.push(&[text("4abc")], Class::Reliable), Err(Overflow));
    }

    #[test]
    fn empty_frames_still_cost_their_entry() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            budget(10, 0),
            Default::default(),
        ));
        let empty = Frame::Binary(Bytes::new());
        let taken = (0..100)
            .take_while(|_| {
                outbox
                    .push(std::slice::from_ref(&empty), Class::Reliable)
                    .is_ok()
            })
            .count();
        assert_eq!(taken, 10);
    }

    #[test]
    fn a_burst_within_the_budget_is_never_refused_whatever_its_packet_count() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            8 << 20,
            Default::default(),
        ));
        for i in 0..10_000 {
            let frame = text(&format!("42[\"n\",{i}]"));
            assert!(outbox.push(&[frame], Class::Reliable).is_ok(), "packet {i}");
        }
        assert_eq!(outbox.depth().0, 10_000);
    }

    #[test]
    fn volatile_is_dropped_when_not_writable() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            1 << 20,
            Default::default(),
        ));
        assert!(outbox.push(&[text("4a")], Class::Volatile).is_ok());
        assert!(outbox.push(&[text("4b")], Class::Volatile).is_ok());
        assert_eq!(outbox.depth().0, 1);
        assert_eq!(outbox.stats.dropped_volatile.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn latest_keeps_only_the_newest_frame_per_key_and_order_of_others() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            1 << 20,
            Default::default(),
        ));
        outbox.push_latest(7, text("4s1"));
        outbox.push(&[text("4e1")], Class::Reliable).ok();
        outbox.push_latest(9, text("4other"));
        outbox.push_latest(7, text("4s2"));
        outbox.push(&[text("4e2")], Class::Reliable).ok();
        outbox.push_latest(7, text("4s3"));
        let mut drained = Drained::default();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(outbox.poll_ws(&mut cx, &mut drained), Poll::Ready(true));
        let mut frames = Vec::new();
        drained.for_each(|frame| frames.push(frame.clone()));
        assert_eq!(
            frames,
            vec![text("4e1"), text("4other"), text("4e2"), text("4s3")]
        );
        assert_eq!(outbox.stats.coalesced_latest.load(Ordering::Relaxed), 2);
        assert_eq!(outbox.depth(), (0, 0));
    }

    /// Counts its wakes.
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn what_is_pushed_during_the_websockets_turn_does_not_wake_it_again() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            1 << 20,
            Default::default(),
        ));
        let wakes = Arc::new(Wakes(Default::default()));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        let mut drained = Drained::default();
        let woken = || wakes.0.load(Ordering::Relaxed);

        // Done for now: the websocket asks to be woken, and a push wakes it.
        assert_eq!(outbox.poll_ws(&mut cx, &mut drained), Poll::Pending);
        outbox.push(&[text("4a")], Class::Reliable).unwrap();
        assert_eq!(woken(), 1);

        // Its turn: it asks again, then takes its socket back; an ack its handling pushes
        // meanwhile does not wake it: it drains the queue before it stops.
        assert_eq!(outbox.poll_ws(&mut cx, &mut drained), Poll::Ready(true));
        drained.for_each(|_| {});
        assert_eq!(outbox.poll_ws(&mut cx, &mut drained), Poll::Pending);
        assert!(outbox.reclaim_wire().is_none());
        outbox.push(&[text("431[1]")], Class::Control).unwrap();
        assert_eq!(woken(), 1, "a push during its turn woke it");
        assert_eq!(outbox.poll_ws(&mut cx, &mut drained), Poll::Ready(true));
        let mut frames = Vec::new();
        drained.for_each(|frame| frames.push(frame.clone()));
        assert_eq!(frames, vec![text("431[1]")]);

        // Its last look asks to be woken again: the next push does.
        assert_eq!(outbox.poll_ws(&mut cx, &mut drained), Poll::Pending);
        outbox.push(&[text("4b")], Class::Reliable).unwrap();
        assert_eq!(woken(), 2);
    }

    #[actix_rt::test]
    async fn poll_batches_respect_byte_budget_and_farewell() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::Polling,
            1 << 20,
            Default::default(),
        ));
        outbox
            .push(&[text("4aaaa"), text("4bbbb")], Class::Reliable)
            .ok();
        let first = outbox.next_poll(7).await;
        assert_eq!(first, PollBatch::Frames(vec![text("4aaaa")], None));
        outbox.close(Farewell::Close);
        let second = outbox.next_poll(100).await;
        assert_eq!(
            second,
            PollBatch::Frames(vec![text("4bbbb")], Some(Farewell::Close))
        );
    }
}
