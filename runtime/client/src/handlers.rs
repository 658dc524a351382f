//! What user code registers on a client: event handlers, connection-event handlers, and the
//! responder a handler answers the server's acks with.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::mpsc;

use super::driver::Control;
use super::{Client, DisconnectReason, Error, RawPayload};
use tickwire_protocol::Codec;

/// A change in the client's connection, given to `on_connection` handlers in order.
///
/// A client's life: `Connected`, then for each lost connection `Disconnected`, and if the
/// reconnection policy retries, `Reconnecting` (and `ReconnectError` for each failed
/// attempt) until `Reconnected` or `ReconnectFailed`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConnectionEvent {
    /// The namespace accepted the first connection; `sid` is the socket id.
    Connected {
        /// The socket id the server assigned.
        sid: String,
    },
    /// The namespace accepted a new connection after a loss.
    Reconnected {
        /// The new socket id.
        sid: String,
        /// How many attempts it took.
        attempts: u32,
    },
    /// The connection ended. Acks still pending fail with [`Error::Disconnected`].
    Disconnected(DisconnectReason),
    /// Reconnection attempt `attempt` starts after `delay`.
    Reconnecting {
        /// The attempt number, from 1.
        attempt: u32,
        /// The backoff delay before it.
        delay: Duration,
    },
    /// Reconnection attempt `attempt` failed with `error`.
    ReconnectError {
        /// The attempt number, from 1.
        attempt: u32,
        /// Why it failed.
        error: Error,
    },
    /// The reconnection policy gave up (or a refusal ended it): the client is closed.
    ReconnectFailed,
    /// The server pinged (its heartbeat; the client has answered).
    Ping,
}

/// The answer to an event the server emitted with an ack. Dropping it without answering
/// sends nothing (the server's `emit_with_ack` then times out), as in Socket.IO.
///
/// It can be kept and answered later, from any task: an answer made after the connection
/// that carried the event went down is dropped (the server forgot the ack id with it).
#[derive(Debug)]
pub struct AckResponder {
    id: Option<u64>,
    epoch: u64,
    codec: Codec,
    control: mpsc::UnboundedSender<Control>,
}

impl AckResponder {
    pub(crate) fn new(
        id: Option<u64>,
        epoch: u64,
        codec: Codec,
        control: mpsc::UnboundedSender<Control>,
    ) -> AckResponder {
        AckResponder {
            id,
            epoch,
            codec,
            control,
        }
    }

    /// Whether the server asked for an answer.
    pub fn required(&self) -> bool {
        self.id.is_some()
    }

    /// Answer with `value` as the single argument. Does nothing when no answer was asked
    /// for.
    pub fn send<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        if self.id.is_none() {
            return Ok(());
        }
        let payload = RawPayload::encode(self.codec, value)?;
        self.send_raw(payload)
    }

    /// Answer with a raw payload (several arguments, binary attachments) in the client's
    /// codec.
    pub fn send_raw(self, payload: RawPayload) -> Result<(), Error> {
        let Some(id) = self.id else {
            return Ok(());
        };
        if payload.codec() != self.codec {
            return Err(Error::CodecMismatch {
                client: self.codec,
                payload: payload.codec(),
            });
        }
        self.control
            .send(Control::Ack {
                epoch: self.epoch,
                id,
                payload,
            })
            .map_err(|_| Error::Closed)
    }
}

pub(crate) type EventHandler = Box<dyn FnMut(&Client, RawPayload, AckResponder) + Send>;
pub(crate) type AnyHandler = Box<dyn FnMut(&Client, &str, RawPayload, AckResponder) + Send>;
pub(crate) type ConnectionHandler = Box<dyn FnMut(&Client, &ConnectionEvent) + Send>;

/// Wrap a typed handler: the payload is deserialized as `T` first; one that does not match
/// is logged and dropped (the handler does not run).
pub(crate) fn typed<T, F>(event: &str, mut handler: F) -> EventHandler
where
    T: DeserializeOwned,
    F: FnMut(&Client, T, AckResponder) + Send + 'static,
{
    let event = event.to_owned();
    Box::new(
        move |client, payload, ack| match payload.deserialize::<T>() {
            Ok(value) => handler(client, value, ack),
            Err(error) => tracing::warn!(
                event = %event,
                %error,
                "event payload does not match the handler's type; dropped"
            ),
        },
    )
}

/// The handlers of one client, owned by its driver task.
#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) events: HashMap<String, EventHandler>,
    pub(crate) any: Option<AnyHandler>,
    pub(crate) connection: Vec<ConnectionHandler>,
}

impl Handlers {
    /// Run the handler of `event` (or the catch-all). A panicking handler is logged; the
    /// connection goes on.
    pub(crate) fn dispatch(
        &mut self,
        client: &Client,
        event: &str,
        payload: RawPayload,
        ack: AckResponder,
    ) {
        let ran = if let Some(handler) = self.events.get_mut(event) {
            catch_unwind(AssertUnwindSafe(|| handler(client, payload, ack)))
        } else if let Some(any) = self.any.as_mut() {
            catch_unwind(AssertUnwindSafe(|| any(client, event, payload, ack)))
        } else {
            tracing::debug!(event, "no handler for event");
            Ok(())
        };
        if ran.is_err() {
            tracing::error!(event, "event handler panicked");
        }
    }

    /// Tell every connection handler about `event`.
    pub(crate) fn connection_event(&mut self, client: &Client, event: &ConnectionEvent) {
        for handler in &mut self.connection {
            if catch_unwind(AssertUnwindSafe(|| handler(client, event))).is_err() {
                tracing::error!(?event, "connection handler panicked");
            }
        }
    }
}
