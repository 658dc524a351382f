//! Configuring and connecting a client.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::driver::{Driver, Status};
use super::handle::Inner;
use super::handlers::{self, AckResponder, ConnectionEvent, Handlers};
use super::once::EmitIds;
use super::{endpoint, Client, Error, RawPayload, Reconnect};

/// Most attachments the client accepts in one binary packet from the server (the same
/// bound a tickwire server applies to its clients by default).
const MAX_ATTACHMENTS: usize = 64;
use tickwire_protocol::Codec;

/// What the driver needs to open (and re-open) the connection.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) url: String,
    pub(crate) namespace: String,
    pub(crate) auth: Option<Value>,
    pub(crate) codec: Codec,
    pub(crate) reconnect: Reconnect,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) max_attachments: usize,
}

/// Configures a [`Client`]; [`ClientBuilder::connect`] opens the connection.
///
/// Defaults: namespace `/`, path `/socket.io/`, no auth, JSON codec,
/// [`Reconnect::default`], a 20 s connect timeout, a queue of 1024 emits, messages up to
/// 64 MiB from the server, exactly-once emits retried every 2 s.
#[must_use = "a builder does nothing until `connect` is awaited"]
pub struct ClientBuilder {
    base: String,
    path: String,
    query: Vec<(String, String)>,
    namespace: String,
    auth: Option<Value>,
    codec: Codec,
    reconnect: Reconnect,
    connect_timeout: Duration,
    queue_capacity: usize,
    max_message_size: usize,
    once_attempt_timeout: Duration,
    handlers: Handlers,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base", &self.base)
            .field("path", &self.path)
            .field("namespace", &self.namespace)
            .field("codec", &self.codec)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(base: String) -> ClientBuilder {
        ClientBuilder {
            base,
            path: "/socket.io/".to_owned(),
            query: Vec::new(),
            namespace: "/".to_owned(),
            auth: None,
            codec: Codec::Json,
            reconnect: Reconnect::default(),
            connect_timeout: Duration::from_secs(20),
            queue_capacity: 1024,
            max_message_size: 64 << 20,
            once_attempt_timeout: Duration::from_secs(2),
            handlers: Handlers::default(),
        }
    }

    /// The namespace to join (default `/`). One client joins one namespace; open one client
    /// per namespace (each has its own connection).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.namespace = if namespace.starts_with('/') {
            namespace
        } else {
            format!("/{namespace}")
        };
        self
    }

    /// The server's Engine.IO endpoint path (default `/socket.io/`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Add a query parameter to the connection request (the server sees it in its
    /// handshake).
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// The auth object sent with the namespace CONNECT (the server's `handshake().auth`);
    /// sent again on each reconnection.
    pub fn auth(mut self, auth: Value) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The codec for Socket.IO packets (default JSON). [`Codec::Compact`] asks the server
    /// for the compact binary codec with `codec=compact` at the handshake.
    pub fn codec(mut self, codec: Codec) -> Self {
        self.codec = codec;
        self
    }

    /// The reconnection policy (default [`Reconnect::default`]; [`Reconnect::disabled`] to
    /// never reconnect).
    pub fn reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = reconnect;
        self
    }

    /// How long one connection attempt (websocket, handshake, namespace CONNECT) may take
    /// (default 20 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many emits may wait to be sent (default 1024, at least 1). Past it `emit` fails
    /// with [`Error::QueueFull`] and `emit_with_ack` waits.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// The largest message accepted from the server, in bytes (default 64 MiB); a larger one
    /// closes the connection.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long one attempt of [`Client::emit_once_with_ack`] waits for its answer before it
    /// is sent again with the same emit id (default 2 s).
    pub fn once_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.once_attempt_timeout = timeout;
        self
    }

    /// Handle `event` with a typed payload, from the first connection on (see
    /// [`Client::on`]).
    pub fn on<T, F>(mut self, event: &str, handler: F) -> Self
    where
        T: DeserializeOwned,
        F: FnMut(&Client, T, AckResponder) + Send + 'static,
    {
        self.handlers
            .events
            .insert(event.to_owned(), handlers::typed(event, handler));
        self
    }

    /// Handle `event` with the raw payload (see [`Client::on_raw`]).
    pub fn on_raw<F>(mut self, event: &str, handler: F) -> Self
    where
        F: FnMut(&Client, RawPayload, AckResponder) + Send + 'static,
    {
        self.handlers
            .events
            .insert(event.to_owned(), Box::new(handler));
        self
    }

    /// Handle every event without a handler of its own (see [`Client::on_any`]).
    pub fn on_any<F>(mut self, handler: F) -> Self
    where
        F: FnMut(&Client, &str, RawPayload, AckResponder) + Send + 'static,
    {
        self.handlers.any = Some(Box::new(handler));
        self
    }

    /// Be told of every [`ConnectionEvent`], the first `Connected` included.
    pub fn on_connection<F>(mut self, handler: F) -> Self
    where
        F: FnMut(&Client, &ConnectionEvent) + Send + 'static,
    {
        self.handlers.connection.push(Box::new(handler));
        self
    }

    /// Open the websocket, complete the Engine.IO handshake and join the namespace; then
    /// hand the connection to a driver task (`tokio::spawn`: call from within a tokio
    /// runtime, an actix `System` included).
    ///
    /// The first attempt is not retried: its failure is returned (a wrong URL or a refused
    /// auth should not look like a slow server). Reconnection applies once connected.
    pub async fn connect(self) -> Result<Client, Error> {
        let url = endpoint::websocket_url(&self.base, &self.path, self.codec, &self.query)?;
        let settings = Settings {
            url,
            namespace: self.namespace,
            auth: self.auth,
            codec: self.codec,
            reconnect: self.reconnect,
            connect_timeout: self.connect_timeout,
            max_message_size: self.max_message_size,
            max_attachments: MAX_ATTACHMENTS,
        };
        let (emits_tx, emits_rx) = mpsc::channel(self.queue_capacity);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (status_tx, status_rx) = watch::channel(Status::Connecting);
        let inner = Arc::new(Inner {
            codec: settings.codec,
            namespace: settings.namespace.clone(),
            emits: emits_tx,
            control: control_tx,
            status: status_rx,
            next_ack: AtomicU64::new(0),
            recovered: AtomicBool::new(false),
            emit_ids: EmitIds::random(),
            once_attempt: self.once_attempt_timeout,
        });
        let driver = Driver::new(
            Arc::new(settings),
            self.handlers,
            Arc::downgrade(&inner),
            emits_rx,
            control_rx,
            status_tx,
        );
        let (first_tx, first_rx) = oneshot::channel();
        tokio::spawn(driver.run(first_tx));
        match first_rx.await {
            Ok(Ok(())) => Ok(Client { inner }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(Error::Closed),
        }
    }
}
