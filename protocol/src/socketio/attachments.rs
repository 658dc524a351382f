use bytes::Bytes;
use serde_json::{Map, Value};

use super::packet::{decode_header, DecodeConfig, Packet};
use super::DecodeError;

/// The placeholder that stands for attachment `num`: exactly
/// `{"_placeholder":true,"num":N}`, keys in that order.
pub fn placeholder(num: usize) -> Value {
    let mut map = Map::with_capacity(2);
    map.insert("_placeholder".into(), Value::Bool(true));
    map.insert("num".into(), Value::from(num));
    Value::Object(map)
}

fn placeholder_num(value: &Value) -> Option<Option<u64>> {
    match value {
        Value::Object(map) if map.get("_placeholder") == Some(&Value::Bool(true)) => {
            Some(map.get("num").and_then(Value::as_u64))
        }
        _ => None,
    }
}

/// Count the placeholders in `value` and check that each `num` is below `attachments`.
pub fn count_placeholders(value: &Value, attachments: usize) -> Result<usize, DecodeError> {
    match placeholder_num(value) {
        Some(Some(n)) if (n as usize) < attachments => Ok(1),
        Some(_) => Err(DecodeError::BadPlaceholder),
        None => match value {
            Value::Array(items) => items
                .iter()
                .try_fold(0, |n, v| Ok(n + count_placeholders(v, attachments)?)),
            Value::Object(map) => map
                .values()
                .try_fold(0, |n, v| Ok(n + count_placeholders(v, attachments)?)),
            _ => Ok(0),
        },
    }
}

/// Rebuilds binary packets from a text header and the binary messages after it.
///
/// Feed every Engine.IO message of one connection, in order; a finished packet comes out
/// once all its attachments have arrived.
#[derive(Debug, Default)]
pub struct Reassembler {
    config: DecodeConfig,
    /// The packet waiting for its attachments, and how many it announced (boxed: a
    /// connection holds a reassembler for its whole life, and most never see a binary
    /// packet).
    pending: Option<Box<(Packet, usize)>>,
}

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(config: DecodeConfig) -> Reassembler {
        Reassembler {
            config,
            pending: None,
        }
    }

    /// The limits it decodes with.
    pub fn config(&self) -> &DecodeConfig {
        &self.config
    }

    /// Whether a binary packet still waits for attachments.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Drop the binary packet being reassembled, if any (its remaining attachments must be
    /// dropped by the caller too). Returns whether one was pending.
    pub fn abandon(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Feed a text message.
    pub fn feed_text(&mut self, text: &str) -> Result<Option<Packet>, DecodeError> {
        if self.pending.is_some() {
            self.pending = None;
            return Err(DecodeError::UnexpectedText);
        }
        let (packet, expected) = decode_header(text, &self.config)?;
        if expected == 0 {
            if let Some(data) = &packet.data {
                if packet.kind.is_binary() {
                    count_placeholders(data, 0)?;
                }
            }
            return Ok(Some(packet));
        }
        self.pending = Some(Box::new((packet, expected)));
        Ok(None)
    }

    /// Feed a binary message.
    pub fn feed_binary(&mut self, bytes: Bytes) -> Result<Option<Packet>, DecodeError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        let (packet, expected) = &mut **pending;
        packet.attachments.push(bytes);
        if packet.attachments.len() < *expected {
            return Ok(None);
        }
        let Some(pending) = self.pending.take() else {
            return Err(DecodeError::UnexpectedBinary);
        };
        let (packet, expected) = *pending;
        if let Some(data) = &packet.data {
            count_placeholders(data, expected)?;
        }
        Ok(Some(packet))
    }
}
