//! Event payloads: the arguments of an event or ack with their binary attachments, or the
//! postcard bytes of the compact codec, and typed extraction from either.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::socketio::placeholder;

/// The arguments of an event or ack, with its binary attachments.
///
/// Binary values sit in `args` as `{"_placeholder":true,"num":N}` objects and their bytes in
/// `attachments`; this is the wire form, so a payload received can be sent on unchanged.
///
/// ```
/// use tickwire_protocol::Payload;
/// let p = Payload::new().arg(&"score").unwrap().arg(&42).unwrap().binary(vec![1u8, 2, 3]);
/// assert_eq!(p.args().len(), 3);
/// assert_eq!(p.attachments().len(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    args: Vec<Value>,
    attachments: Vec<Bytes>,
    /// The postcard bytes of the argument, when the payload came from (or is meant for) a
    /// compact-codec connection.
    compact: Option<Bytes>,
}

impl Payload {
    /// An empty payload (no arguments).
    pub fn new() -> Payload {
        Payload::default()
    }

    /// A payload from raw wire parts.
    pub fn from_parts(args: Vec<Value>, attachments: Vec<Bytes>) -> Payload {
        Payload {
            args,
            attachments,
            compact: None,
        }
    }

    /// A payload of the compact codec: the postcard bytes of one argument.
    pub fn from_compact(bytes: impl Into<Bytes>) -> Payload {
        Payload {
            compact: Some(bytes.into()),
            ..Payload::default()
        }
    }

    /// The postcard bytes, for a payload of the compact codec.
    pub fn compact_bytes(&self) -> Option<&Bytes> {
        self.compact.as_ref()
    }

    /// Append an argument serialized to JSON.
    pub fn arg(mut self, value: &impl Serialize) -> Result<Payload, serde_json::Error> {
        self.args.push(serde_json::to_value(value)?);
        Ok(self)
    }

    /// Append a binary argument.
    pub fn binary(mut self, bytes: impl Into<Bytes>) -> Payload {
        let value = self.placeholder_for(bytes);
        self.args.push(value);
        self
    }

    /// Register `bytes` as an attachment and return the placeholder to put anywhere inside
    /// an argument (for binary nested in objects).
    pub fn placeholder_for(&mut self, bytes: impl Into<Bytes>) -> Value {
        self.attachments.push(bytes.into());
        placeholder(self.attachments.len() - 1)
    }

    /// The arguments (binary ones as placeholders).
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The arguments, to change in place (binary ones as placeholders).
    pub fn args_mut(&mut self) -> &mut Vec<Value> {
        &mut self.args
    }

    /// Whether this is a payload of the compact codec.
    pub fn is_compact(&self) -> bool {
        self.compact.is_some()
    }

    /// The codec this payload travels on.
    pub fn codec(&self) -> crate::Codec {
        if self.compact.is_some() {
            crate::Codec::Compact
        } else {
            crate::Codec::Json
        }
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Split into arguments and attachments.
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        (self.args, self.attachments)
    }

    /// [`Payload::deserialize`], taking the arguments instead of copying them.
    pub fn into_deserialize<T: DeserializeOwned + 'static>(mut self) -> Result<T, String> {
        if self.compact.is_some() {
            return self.deserialize();
        }
        let value = if self.args.len() == 1 {
            self.args.pop().unwrap_or_default()
        } else {
            Value::Array(self.args)
        };
        // Asked for the JSON value itself: hand it over rather than rebuild it.
        let mut slot = Some(value);
        if let Some(same) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<T>>() {
            if let Some(value) = same.take() {
                return Ok(value);
            }
        }
        let value = slot.unwrap_or_default();
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    /// Deserialize the arguments: the only argument when there is one, otherwise the array
    /// of all of them (so `(A, B)` reads two arguments).
    ///
    /// A compact payload is read from its postcard bytes instead (its one argument, which a
    /// tuple type spreads over several values).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, String> {
        if let Some(bytes) = &self.compact {
            return crate::compact::from_payload(bytes).map_err(|e| e.to_string());
        }
        match self.args.as_slice() {
            [one] => T::deserialize(one),
            many => T::deserialize(Value::Array(many.to_vec())),
        }
        .map_err(|e| e.to_string())
    }
}
