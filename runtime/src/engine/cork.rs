//! [`Cork`]: one write per connection for a batch of work on one thread.
//!
//! A direct write ([`Outbox`]'s write-through) costs a system call per packet, and on
//! loopback each one runs the receiver's side of the stack too. When one piece of work sends
//! several packets to the same websocket (a handler that emits ten events, a batch of
//! broadcasts read from the bus at once), those calls add up, and each wakes the client
//! again. While a `Cork` lives on a thread, a frame that would be written straight to a
//! websocket's lent socket is queued instead (without waking the websocket's task), and
//! when the cork is dropped each connection that got frames writes them all in one
//! system call. Order is kept: the frames are in the connection's queue, and anything
//! pushed meanwhile queues behind them.
//!
//! The work under a cork is synchronous (no `.await` inside), so the frames wait only for
//! the rest of that work. What one connection holds corked stays within its byte budget:
//! a push that would pass it writes out what is corked first.

use std::cell::RefCell;
use std::sync::Arc;

use super::outbox::Outbox;

thread_local! {
    /// The connections with frames held by this thread's cork; `None` when uncorked.
    static CORKED: RefCell<Option<Vec<Arc<Outbox>>>> = const { RefCell::new(None) };
}

/// Holds direct writes on this thread until dropped (see the module's documentation).
/// Corks nest: only the outermost one writes.
#[must_use = "the cork writes its frames when dropped"]
pub(crate) struct Cork {
    outermost: bool,
}

impl Cork {
    /// Cork this thread until the returned value is dropped.
    pub(crate) fn new() -> Cork {
        let outermost = CORKED.with(|corked| {
            let mut corked = corked.borrow_mut();
            let outermost = corked.is_none();
            if outermost {
                *corked = Some(Vec::new());
            }
            outermost
        });
        Cork { outermost }
    }
}

impl Drop for Cork {
    fn drop(&mut self) {
        if !self.outermost {
            return;
        }
        let held = CORKED.with(|corked| corked.borrow_mut().take());
        for outbox in held.into_iter().flatten() {
            outbox.uncork();
        }
    }
}

/// Hold `outbox`'s frames until this thread's cork is dropped: false when the thread is not
/// corked. Called once per outbox and cork (the outbox remembers it is held).
pub(super) fn hold(outbox: &Arc<Outbox>) -> bool {
    CORKED.with(|corked| match corked.borrow_mut().as_mut() {
        Some(held) => {
            held.push(outbox.clone());
            true
        }
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use actix_http::ws::OpCode;
    use bytestring::ByteString;
    use tickwire_protocol::engineio::TransportKind;

    use super::*;
    use crate::engine::outbox::{Class, Frame, ENTRY_OVERHEAD};
    use crate::engine::websocket::{frames_read, wire_pair, Wire};

    fn text(s: &str) -> Frame {
        Frame::Text(ByteString::from(s.to_owned()))
    }

    fn lent(wire: &Wire, budget: usize) -> Arc<Outbox> {
        let outbox = Arc::new(Outbox::new(
            TransportKind::WebSocket,
            budget,
            Default::default(),
        ));
        outbox.lend_wire(wire);
        outbox
    }

    async fn texts_read(client: tokio::net::TcpStream) -> Vec<String> {
        frames_read(client)
            .await
            .into_iter()
            .map(|(opcode, payload)| {
                assert_eq!(opcode, OpCode::Text);
                String::from_utf8(payload).unwrap()
            })
            .collect()
    }

    /// Under a cork, frames for a lent socket wait in the queue (volatile and latest ones
    /// too, which would have been written at once); dropping the cork writes them, in the
    /// order they were pushed. Without a cork they go straight out again.
    #[actix_rt::test]
    async fn a_cork_holds_frames_until_it_is_dropped_then_writes_them_in_order() {
        let (wire, client) = wire_pair().await;
        let outbox = lent(&wire, 1 << 20);
        {
            let _cork = Cork::new();
            outbox.push(&[text("4a")], Class::Reliable).unwrap();
            outbox.push(&[text("4b")], Class::Volatile).unwrap();
            outbox.push_latest(7, text("4s1"));
            outbox
                .push(&[text("4c"), text("4d")], Class::Reliable)
                .unwrap();
            outbox.push_latest(7, text("4s2"));
            assert_eq!(outbox.depth().0, 5, "held, the older latest frame replaced");
            assert_eq!(outbox.stats.bytes_out.get(), 0, "nothing written yet");
        }
        assert_eq!(outbox.depth(), (0, 0));
        outbox.push(&[text("4e")], Class::Reliable).unwrap();
        assert_eq!(outbox.depth().0, 0, "uncorked: written straight through");
        drop((outbox, wire));
        assert_eq!(
            texts_read(client).await,
            ["4a", "4b", "4c", "4d", "4s2", "4e"]
        );
    }

    /// Corks nest: only the outermost writes, when it is dropped.
    #[actix_rt::test]
    async fn only_the_outermost_cork_writes() {
        let (wire, client) = wire_pair().await;
        let outbox = lent(&wire, 1 << 20);
        {
            let _outer = Cork::new();
            {
                let _inner = Cork::new();
                outbox.push(&[text("4a")], Class::Reliable).unwrap();
            }
            assert_eq!(outbox.depth().0, 1, "still held after the inner cork");
            outbox.push(&[text("4b")], Class::Reliable).unwrap();
        }
        assert_eq!(outbox.depth().0, 0);
        drop((outbox, wire));
        assert_eq!(texts_read(client).await, ["4a", "4b"]);
    }

    /// What one connection holds corked never passes its byte budget, and a burst over it is
    /// not refused while the socket takes it: the held frames are written first, then the
    /// new ones go their usual way.
    #[actix_rt::test]
    async fn held_frames_stay_within_the_budget_and_a_writable_socket_refuses_nothing() {
        let (wire, client) = wire_pair().await;
        let budget = 3 * (2 + ENTRY_OVERHEAD);
        let outbox = lent(&wire, budget);
        let sent: Vec<String> = (0..20).map(|i| format!("4{}", i % 10)).collect();
        {
            let _cork = Cork::new();
            for frame in &sent {
                outbox.push(&[text(frame)], Class::Reliable).unwrap();
                assert!(outbox.depth().1 <= budget);
            }
        }
        assert_eq!(outbox.depth(), (0, 0));
        drop((outbox, wire));
        assert_eq!(texts_read(client).await, sent);
    }

    /// Sockets without a lent wire (a websocket whose task is writing, long-polling) are not
    /// held: their frames take the usual way, and the consumer is woken as before.
    #[actix_rt::test]
    async fn queues_without_a_lent_wire_are_not_held() {
        let outbox = Arc::new(Outbox::new(
            TransportKind::Polling,
            1 << 20,
            Default::default(),
        ));
        let _cork = Cork::new();
        outbox.push(&[text("4a")], Class::Reliable).unwrap();
        CORKED.with(|corked| assert_eq!(corked.borrow().as_ref().map(Vec::len), Some(0)));
        assert_eq!(outbox.depth().0, 1);
    }
}
