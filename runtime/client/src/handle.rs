//! The handle user code holds: emit, ask for acks, register handlers, disconnect.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};

use super::driver::{AckWaiter, Control, Emit, Status};
use super::handlers::{self, AckResponder, ConnectionEvent};
use super::once::{self, EmitIds};
use super::{ClientBuilder, Error, RawPayload};
use tickwire_protocol::Codec;

/// A connection to one namespace of a Socket.IO server. Cheap to clone; every clone is the
/// same connection.
///
/// Calls never wait on the network: `emit` queues (bounded, see
/// [`ClientBuilder::queue_capacity`]) and a driver task does the I/O, answers pings and
/// reconnects. While the client is reconnecting, emits wait in the queue and go out once it
/// is back. The driver stops when [`Client::disconnect`] is called, when the connection is
/// lost for good, or when every handle is dropped.
///
/// See the [module docs](super) for an example.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) codec: Codec,
    pub(crate) namespace: String,
    pub(crate) emits: mpsc::Sender<Emit>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) status: watch::Receiver<Status>,
    pub(crate) next_ack: AtomicU64,
    /// Whether the last connection recovered the previous session.
    pub(crate) recovered: AtomicBool,
    pub(crate) emit_ids: EmitIds,
    /// How long one attempt of an exactly-once emit waits for its answer.
    pub(crate) once_attempt: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("namespace", &self.inner.namespace)
            .field("codec", &self.inner.codec)
            .field("status", &*self.inner.status.borrow())
            .finish()
    }
}

impl Client {
    /// Start configuring a client of the server at `url` (`http://host:port` or
    /// `ws://host:port`).
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url.into())
    }

    /// The namespace this client joined.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The codec this client speaks.
    pub fn codec(&self) -> Codec {
        self.inner.codec
    }

    /// Whether the namespace connection is up right now.
    pub fn is_connected(&self) -> bool {
        matches!(*self.inner.status.borrow(), Status::Connected(_))
    }

    /// Whether the client is closed for good (emits fail with [`Error::Closed`]).
    pub fn is_closed(&self) -> bool {
        matches!(*self.inner.status.borrow(), Status::Closed)
    }

    /// The socket id of the current connection (it changes on each reconnection).
    pub fn id(&self) -> Option<String> {
        match &*self.inner.status.borrow() {
            Status::Connected(sid) => Some(sid.clone()),
            _ => None,
        }
    }

    /// Whether the last connection recovered the previous session (connection state
    /// recovery, JSON codec): the server gave the socket its id and rooms back and replayed
    /// the broadcasts it missed. `false` for the first connection, a fresh session, a
    /// server without recovery, and the compact codec. It keeps its value while the client
    /// reconnects.
    ///
    /// As with the official JS client, the broadcasts of a server with recovery on carry
    /// their offset as one more, last, string argument, and handlers see it: read such an
    /// event as a tuple (or with a raw handler).
    pub fn recovered(&self) -> bool {
        self.inner.recovered.load(Ordering::Acquire)
    }

    /// Emit `event` with `data` as its single argument.
    ///
    /// Queued, not sent: fails with [`Error::QueueFull`] when the queue is full and
    /// [`Error::Closed`] when the client is closed. A packet over the server's `maxPayload`
    /// is dropped (and logged) rather than sent, since the server would close the connection.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), Error> {
        self.emit_raw(event, RawPayload::encode(self.codec(), data)?)
    }

    /// Emit `event` with bytes as its single argument (a binary attachment in JSON, a
    /// postcard byte string in compact; the server reads `Vec<u8>` or `Bytes` either way).
    pub fn emit_binary(&self, event: &str, bytes: impl Into<Bytes>) -> Result<(), Error> {
        self.emit_raw(event, RawPayload::binary(self.codec(), bytes))
    }

    /// Emit `event` with a raw payload in the client's codec (several arguments, binary
    /// attachments anywhere in them).
    pub fn emit_raw(&self, event: &str, payload: RawPayload) -> Result<(), Error> {
        self.check_codec(&payload)?;
        let emit = Emit {
            event: event.to_owned(),
            payload,
            ack: None,
        };
        self.inner.emits.try_send(emit).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::QueueFull,
            mpsc::error::TrySendError::Closed(_) => Error::Closed,
        })
    }

    /// Emit `event` with `data` and wait up to `timeout` for the server's answer, read as
    /// `R`.
    ///
    /// Waits for room in the queue too (within the timeout). Fails with
    /// [`Error::AckTimeout`], [`Error::Disconnected`] (the connection went down first: the
    /// event may or may not have been handled), [`Error::Closed`] or [`Error::Decode`].
    pub async fn emit_with_ack<R: DeserializeOwned>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
        timeout: Duration,
    ) -> Result<R, Error> {
        let payload = RawPayload::encode(self.codec(), data)?;
        self.emit_raw_with_ack(event, payload, timeout)
            .await?
            .deserialize()
    }

    /// [`Client::emit_with_ack`] with raw payloads both ways.
    pub async fn emit_raw_with_ack(
        &self,
        event: &str,
        payload: RawPayload,
        timeout: Duration,
    ) -> Result<RawPayload, Error> {
        self.check_codec(&payload)?;
        let id = self.inner.next_ack.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let emit = Emit {
            event: event.to_owned(),
            payload,
            ack: Some(AckWaiter { id, reply }),
        };
        let exchange = async {
            self.inner
                .emits
                .send(emit)
                .await
                .map_err(|_| Error::Closed)?;
            answer.await.map_err(|_| Error::Closed)?
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => {
                let _ = self.inner.control.send(Control::ForgetAck(id));
                Err(Error::AckTimeout)
            }
        }
    }

    /// Emit `event` with `data` so that a tickwire server handles it once, and wait up to
    /// `timeout` in all for its answer, read as `R`.
    ///
    /// The emit gets an emit id and travels as `tw:once` (see the server's docs): each
    /// attempt waits for the answer at most [`ClientBuilder::once_attempt_timeout`], and a
    /// lost connection or an attempt without answer is retried with the same emit id (and
    /// a new ack id) until the answer comes or `timeout` runs out, across reconnections. The
    /// server runs the handler for the first copy only and answers every copy with that
    /// run's answer.
    ///
    /// Exactly-once holds within the server's window of remembered emit ids (256 per socket
    /// by default) and the session: across a reconnection it needs connection state
    /// recovery on the server, and the JSON codec (a compact client that reconnects starts a
    /// fresh session, where a retry runs again).
    ///
    /// Fails with [`Error::AckTimeout`] when no attempt was answered in time (the event may
    /// or may not have been handled), [`Error::Closed`], [`Error::Decode`], or what a plain
    /// emit fails with.
    pub async fn emit_once_with_ack<R: DeserializeOwned>(
        &self,
        event: &str,
        data: &(impl Serialize + ?Sized),
        timeout: Duration,
    ) -> Result<R, Error> {
        let payload = RawPayload::encode(self.codec(), data)?;
        self.emit_raw_once_with_ack(event, payload, timeout)
            .await?
            .deserialize()
    }

    /// [`Client::emit_once_with_ack`] with raw payloads both ways (several arguments,
    /// binary attachments).
    pub async fn emit_raw_once_with_ack(
        &self,
        event: &str,
        payload: RawPayload,
        timeout: Duration,
    ) -> Result<RawPayload, Error> {
        self.check_codec(&payload)?;
        let id = self.inner.emit_ids.next();
        let envelope = once::envelope(&id, event, payload)?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Error::AckTimeout);
            }
            let attempt = left.min(self.inner.once_attempt);
            match self
                .emit_raw_with_ack(once::ONCE_EVENT, envelope.clone(), attempt)
                .await
            {
                // Not answered (yet): the same emit id again. After a lost connection the
                // retry waits in the queue until the client is back.
                Err(Error::AckTimeout | Error::Disconnected) => {
                    tracing::debug!(emit = %id, event, "exactly-once emit not answered; retrying");
                }
                answer => return answer,
            }
        }
    }

    /// Handle `event` with a typed payload (see [`RawPayload::deserialize`] for how the
    /// arguments are read). A payload that does not match `T` is logged and dropped.
    ///
    /// Handlers run on the driver task, one at a time, in the order events arrive: keep them
    /// short, and spawn a task for anything that waits. They may call the client freely
    /// (emits are queued). Registering replaces the previous handler of `event`.
    pub fn on<T, F>(&self, event: &str, handler: F)
    where
        T: DeserializeOwned,
        F: FnMut(&Client, T, AckResponder) + Send + 'static,
    {
        let _ = self.inner.control.send(Control::On(
            event.to_owned(),
            handlers::typed(event, handler),
        ));
    }

    /// Handle `event` with the raw payload (arguments and binary attachments, or postcard
    /// bytes).
    pub fn on_raw<F>(&self, event: &str, handler: F)
    where
        F: FnMut(&Client, RawPayload, AckResponder) + Send + 'static,
    {
        let _ = self
            .inner
            .control
            .send(Control::On(event.to_owned(), Box::new(handler)));
    }

    /// Handle every event that has no handler of its own.
    pub fn on_any<F>(&self, handler: F)
    where
        F: FnMut(&Client, &str, RawPayload, AckResponder) + Send + 'static,
    {
        let _ = self.inner.control.send(Control::OnAny(Box::new(handler)));
    }

    /// Stop handling `event`.
    pub fn off(&self, event: &str) {
        let _ = self.inner.control.send(Control::Off(event.to_owned()));
    }

    /// Be told of every later [`ConnectionEvent`].
    pub fn on_connection<F>(&self, handler: F)
    where
        F: FnMut(&Client, &ConnectionEvent) + Send + 'static,
    {
        let _ = self
            .inner
            .control
            .send(Control::OnConnection(Box::new(handler)));
    }

    /// Leave the namespace and close the connection, after sending what is already queued.
    /// Final: the client does not reconnect. Returns at once; await [`Client::closed`] to
    /// know the driver has stopped.
    pub fn disconnect(&self) {
        let _ = self.inner.control.send(Control::Disconnect);
    }

    /// Wait until the client is closed for good.
    pub async fn closed(&self) {
        let mut status = self.inner.status.clone();
        let _ = status.wait_for(|s| matches!(s, Status::Closed)).await;
    }

    fn check_codec(&self, payload: &RawPayload) -> Result<(), Error> {
        if payload.codec() == self.codec() {
            Ok(())
        } else {
            Err(Error::CodecMismatch {
                client: self.codec(),
                payload: payload.codec(),
            })
        }
    }
}
