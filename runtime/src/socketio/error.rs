//! Errors of the runtime's public API.

use thiserror::Error;

/// Why an `emit_with_ack` produced no answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AckError {
    /// No answer within the timeout. The late answer, if any, is dropped.
    #[error("ack timed out")]
    Timeout,
    /// The socket disconnected before answering.
    #[error("socket disconnected before acking")]
    Disconnected,
    /// The socket already awaits `max_pending_acks` answers; nothing was sent.
    #[error("too many pending acks")]
    TooManyPending,
    /// The answer did not deserialize into the requested type.
    #[error("ack payload did not match the expected type: {0}")]
    Decode(String),
}

/// Why an emit was not queued.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The socket is gone.
    #[error("socket is disconnected")]
    Disconnected,
    /// The data did not serialize to JSON.
    #[error("payload does not serialize: {0}")]
    Serialize(String),
    /// The client's outbound queue is full: the client is disconnected as a slow consumer.
    #[error("client is too slow; disconnected")]
    SlowConsumer,
    /// The broadcast reached this node's sockets, but the cluster bus did not take it for
    /// the other nodes.
    #[error("not published to the other nodes: {0}")]
    Cluster(String),
}

impl From<serde_json::Error> for SendError {
    fn from(e: serde_json::Error) -> SendError {
        SendError::Serialize(e.to_string())
    }
}

/// A refusal of a namespace connection, sent to the client as CONNECT_ERROR
/// `{"message": message, "data": data}`.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{message}")]
pub struct ConnectError {
    /// Shown to the client as `err.message`.
    pub message: String,
    /// Shown to the client as `err.data`, when present.
    pub data: Option<serde_json::Value>,
}

impl ConnectError {
    /// A refusal with a message and no data.
    pub fn new(message: impl Into<String>) -> ConnectError {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Attach `data` (any serializable value) to the refusal.
    pub fn with_data(mut self, data: impl serde::Serialize) -> ConnectError {
        self.data = serde_json::to_value(data).ok();
        self
    }
}
