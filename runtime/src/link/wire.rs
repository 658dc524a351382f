//! What buses between nodes carry, as bytes: frames and payloads, and versioned postcard
//! messages.

use bytes::Bytes;
use bytestring::ByteString;
use serde::{Deserialize, Serialize};
use tickwire_protocol::Payload;

use crate::engine::Frame;

/// A [`Payload`] on the bus: JSON arguments as JSON text (the bus format cannot carry a
/// self-describing JSON value), attachments, or compact bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WirePayload {
    args: String,
    attachments: Vec<Vec<u8>>,
    compact: Option<Vec<u8>>,
}

impl WirePayload {
    pub(crate) fn from_payload(payload: &Payload) -> WirePayload {
        WirePayload {
            args: serde_json::Value::Array(payload.args().to_vec()).to_string(),
            attachments: payload.attachments().iter().map(|b| b.to_vec()).collect(),
            compact: payload.compact_bytes().map(|b| b.to_vec()),
        }
    }

    pub(crate) fn into_payload(self) -> Payload {
        match self.compact {
            Some(bytes) => Payload::from_compact(bytes),
            None => Payload::from_parts(
                serde_json::from_str(&self.args).unwrap_or_default(),
                self.attachments.into_iter().map(Bytes::from).collect(),
            ),
        }
    }
}

/// A frame on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum WireFrame {
    Text(String),
    Binary(Vec<u8>),
}

impl WireFrame {
    pub(crate) fn from_frames(frames: &[Frame]) -> Vec<WireFrame> {
        frames
            .iter()
            .map(|frame| match frame {
                Frame::Text(text) => WireFrame::Text(text.to_string()),
                Frame::Binary(bytes) => WireFrame::Binary(bytes.to_vec()),
            })
            .collect()
    }

    pub(crate) fn into_frames(frames: Vec<WireFrame>) -> Vec<Frame> {
        frames
            .into_iter()
            .map(|frame| match frame {
                WireFrame::Text(text) => Frame::Text(ByteString::from(text)),
                WireFrame::Binary(bytes) => Frame::Binary(Bytes::from(bytes)),
            })
            .collect()
    }
}

/// Why a message from the bus was dropped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("empty message")]
    Empty,
    #[error("format version {0}, this node reads version {1}")]
    Version(u8, u8),
    #[error("malformed message: {0}")]
    Malformed(String),
}

/// Messages as one version byte, then their postcard encoding.
pub(crate) mod versioned {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    use super::DecodeError;

    /// `message` as `version`, then its postcard bytes.
    pub(crate) fn encode<T: Serialize>(version: u8, message: &T) -> Result<Vec<u8>, String> {
        let body = tickwire_protocol::compact::to_payload(message).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(1 + body.len());
        out.push(version);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// A message of `version` from `bytes`.
    pub(crate) fn decode<T: DeserializeOwned>(version: u8, bytes: &[u8]) -> Result<T, DecodeError> {
        let (&found, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        if found != version {
            return Err(DecodeError::Version(found, version));
        }
        tickwire_protocol::compact::from_payload(body)
            .map_err(|e| DecodeError::Malformed(e.to_string()))
    }
}
