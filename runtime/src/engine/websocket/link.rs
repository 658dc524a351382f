//! [`WsLink`]: what the connection actor says to one of its websockets besides the outbox
//! (probe answers, becoming the session's transport, closing).

use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

use super::super::outbox::Frame;

/// What the connection actor says to one of its websockets besides the outbox.
pub(crate) struct WsLink {
    pub(super) state: Mutex<LinkState>,
}

#[derive(Default)]
pub(super) struct LinkState {
    /// Frames for this websocket only (the answers to upgrade probes).
    pub(super) direct: Vec<Frame>,
    /// The session writes through this websocket: drain the outbox.
    pub(super) active: bool,
    /// Send a close frame and end.
    pub(super) close: bool,
    pub(super) waker: Option<Waker>,
}

impl WsLink {
    pub(super) fn new(active: bool) -> Arc<WsLink> {
        Arc::new(WsLink {
            state: Mutex::new(LinkState {
                active,
                ..LinkState::default()
            }),
        })
    }

    fn update(&self, f: impl FnOnce(&mut LinkState)) {
        let waker = {
            let mut st = self.state.lock();
            f(&mut st);
            st.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Write `frame` on this websocket, outside the outbox (a probe's answer).
    pub(crate) fn send(&self, frame: Frame) {
        self.update(|st| st.direct.push(frame));
    }

    /// The session moved onto this websocket: write its outbox from now on.
    pub(crate) fn activate(&self) {
        self.update(|st| st.active = true);
    }

    /// Close this websocket (a probe that did not become the transport).
    pub(crate) fn close(&self) {
        self.update(|st| st.close = true);
    }
}
