//! Acks: [`AckSender`] answers a client's ack request; [`PendingAcks`] holds the answers a
//! socket awaits from its client, bounded by `max_pending_acks`.

use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::oneshot;

use super::codec::{encode_ack, encode_payload_ack};
use super::error::{AckError, SendError};
use super::payload::Payload;
use super::socket::Socket;
use crate::engine::Class;

/// The acks one socket awaits from its client, by ack id (a tree: no hasher state to carry
/// per socket, and the client picks the ids it answers with, so lookups stay logarithmic
/// whatever it sends).
#[derive(Default)]
pub(crate) struct PendingAcks(Mutex<BTreeMap<u64, oneshot::Sender<Payload>>>);

impl PendingAcks {
    /// Await the ack `id`, unless `max` are awaited already.
    pub(crate) fn register(
        &self,
        id: u64,
        max: usize,
    ) -> Result<oneshot::Receiver<Payload>, AckError> {
        let mut acks = self.0.lock();
        if acks.len() >= max {
            return Err(AckError::TooManyPending);
        }
        let (tx, rx) = oneshot::channel();
        acks.insert(id, tx);
        Ok(rx)
    }

    /// The client answered `id`.
    pub(crate) fn resolve(&self, id: u64, payload: Payload) {
        if let Some(tx) = self.0.lock().remove(&id) {
            let _ = tx.send(payload);
        }
    }

    /// Stop awaiting `id`.
    pub(crate) fn forget(&self, id: u64) {
        self.0.lock().remove(&id);
    }

    /// Fail every awaited ack (the socket disconnected).
    pub(crate) fn clear(&self) {
        self.0.lock().clear();
    }
}

/// An ack a socket awaits from its client: forgotten when this is dropped, however the wait
/// ends (answered, timed out, or dropped by a caller that stopped waiting: a `timeout` or a
/// `select!` around the emit), so no abandoned wait holds a place of `max_pending_acks`.
pub(crate) struct AwaitedAck {
    socket: Socket,
    id: u64,
    rx: Option<oneshot::Receiver<Payload>>,
}

impl AwaitedAck {
    /// Await ack `id` of `socket`, answered through `rx`.
    pub(crate) fn new(socket: Socket, id: u64, rx: oneshot::Receiver<Payload>) -> AwaitedAck {
        AwaitedAck {
            socket,
            id,
            rx: Some(rx),
        }
    }

    /// The socket whose client is to answer.
    pub(crate) fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Wait for the answer at most `timeout`; a late answer is dropped.
    pub(crate) async fn wait(mut self, timeout: Duration) -> Result<Payload, AckError> {
        let Some(rx) = self.rx.take() else {
            return Err(AckError::Disconnected);
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(payload)) => Ok(payload),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => Err(AckError::Timeout),
        }
    }
}

impl Drop for AwaitedAck {
    fn drop(&mut self) {
        self.socket.forget_ack(self.id);
    }
}

/// Answers the client's ack request for one event. Answering an event that asked for no
/// ack does nothing.
#[derive(Debug, Clone)]
pub struct AckSender {
    pub(crate) socket: Socket,
    pub(crate) id: Option<u64>,
    /// Set for an exactly-once emit's run: the answer is also kept for its duplicates.
    pub(crate) once: Option<super::dedupe::OnceAck>,
}

impl AckSender {
    /// Whether the client asked for an ack.
    pub fn required(&self) -> bool {
        self.id.is_some()
    }

    /// Answer with one argument.
    pub fn send(&self, data: &impl Serialize) -> Result<(), SendError> {
        let Some(id) = self.id else { return Ok(()) };
        if let Some(once) = &self.once {
            return once.send(id, data);
        }
        let s = &self.socket;
        let frames = encode_ack(s.codec(), s.inner.ns.name(), id, data)?;
        s.send_frames(&frames, Class::Control)
    }

    /// Answer with any arguments and binary attachments.
    pub fn send_payload(&self, payload: Payload) -> Result<(), SendError> {
        let Some(id) = self.id else { return Ok(()) };
        if let Some(once) = &self.once {
            return once.send_payload(id, payload);
        }
        let s = &self.socket;
        let frames = encode_payload_ack(s.codec(), s.inner.ns.name(), id, &payload)?;
        s.send_frames(&frames, Class::Control)
    }
}
