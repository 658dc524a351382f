use thiserror::Error;

/// A Socket.IO packet that breaks the v5 format.
///
/// The protocol's answer to every variant is to close the Engine.IO connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The text was empty.
    #[error("empty packet")]
    Empty,
    /// The first character is not one of `0`..`6`.
    #[error("unknown packet type")]
    UnknownType,
    /// The attachment count of a binary packet is missing, malformed or over the limit.
    #[error("illegal attachments")]
    IllegalAttachments,
    /// The ack id does not fit in 64 bits.
    #[error("invalid ack id")]
    InvalidAckId,
    /// The JSON does not parse.
    #[error("invalid payload: {0}")]
    InvalidJson(String),
    /// The JSON parses but is not what the packet type requires (an EVENT that is not a
    /// non-empty array starting with its name, a CONNECT that is not an object, ...).
    #[error("invalid payload for packet type")]
    InvalidPayload,
    /// A binary message arrived while no binary packet was being reassembled.
    #[error("unexpected binary data")]
    UnexpectedBinary,
    /// A text packet arrived while a binary packet still waited for attachments.
    #[error("got plaintext data while reconstructing a packet")]
    UnexpectedText,
    /// A placeholder's `num` is not the index of a received attachment.
    #[error("placeholder index out of range")]
    BadPlaceholder,
}
