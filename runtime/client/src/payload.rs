//! What an event or ack carries, in the client's codec.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tickwire_protocol::compact;

use super::Error;
use tickwire_protocol::Codec;
use tickwire_protocol::Payload;

/// The arguments of an event or ack as they travel, in one of the two codecs.
///
/// - JSON: the Socket.IO arguments with their binary attachments ([`Payload`]: binary values
///   are `{"_placeholder":true,"num":N}` objects in `args`, their bytes in `attachments`).
/// - Compact: the postcard bytes of the one argument (empty for none).
///
/// Typed handlers and [`RawPayload::deserialize`] read either; raw handlers see the wire
/// form, so a payload received can be sent on unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum RawPayload {
    /// Socket.IO JSON arguments and attachments.
    Json(Payload),
    /// The compact codec's postcard bytes.
    Compact(Bytes),
}

impl RawPayload {
    /// `value` as the single argument, in `codec`.
    pub fn encode<T: Serialize + ?Sized>(codec: Codec, value: &T) -> Result<RawPayload, Error> {
        match codec {
            Codec::Json => {
                let value =
                    serde_json::to_value(value).map_err(|e| Error::Serialize(e.to_string()))?;
                Ok(RawPayload::Json(Payload::from_parts(
                    vec![value],
                    Vec::new(),
                )))
            }
            Codec::Compact => compact::to_payload(value)
                .map(RawPayload::Compact)
                .map_err(|e| Error::Serialize(e.to_string())),
        }
    }

    /// Bytes as the single argument: a binary attachment in JSON, a postcard byte string
    /// (length, then the bytes) in compact. Either way the receiver reads it as `Vec<u8>`
    /// or `Bytes`.
    pub fn binary(codec: Codec, bytes: impl Into<Bytes>) -> RawPayload {
        let bytes = bytes.into();
        match codec {
            Codec::Json => RawPayload::Json(Payload::new().binary(bytes)),
            Codec::Compact => {
                // Infallible: postcard writes any byte string (its length, then the bytes).
                let bytes = compact::to_payload(&ByteString(&bytes)).unwrap_or_default();
                RawPayload::Compact(bytes)
            }
        }
    }

    /// No argument at all.
    pub fn empty(codec: Codec) -> RawPayload {
        match codec {
            Codec::Json => RawPayload::Json(Payload::new()),
            Codec::Compact => RawPayload::Compact(Bytes::new()),
        }
    }

    /// The codec this payload is written in.
    pub fn codec(&self) -> Codec {
        match self {
            RawPayload::Json(_) => Codec::Json,
            RawPayload::Compact(_) => Codec::Compact,
        }
    }

    /// Read the payload as a `T`.
    ///
    /// JSON: no argument reads as `null` (so `()` and `Option<T>` work), one argument as
    /// itself, several as an array (so a tuple reads them all). Binary attachments are put
    /// in place of their placeholders as arrays of bytes, so a `Vec<u8>` or `Bytes` field
    /// reads them (that costs a JSON number per byte: use [`RawPayload::Json`]'s
    /// attachments directly for large binaries). Compact: the postcard value, with nothing
    /// left over.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match self {
            RawPayload::Json(payload) => {
                let decode = |e: serde_json::Error| Error::Decode(e.to_string());
                if payload.attachments().is_empty() {
                    match payload.args() {
                        [] => T::deserialize(Value::Null).map_err(decode),
                        [one] => T::deserialize(one).map_err(decode),
                        many => T::deserialize(Value::Array(many.to_vec())).map_err(decode),
                    }
                } else {
                    let value = match payload.args() {
                        [] => Value::Null,
                        [one] => one.clone(),
                        many => Value::Array(many.to_vec()),
                    };
                    T::deserialize(inline_attachments(value, payload.attachments())).map_err(decode)
                }
            }
            RawPayload::Compact(bytes) => {
                compact::from_payload(bytes).map_err(|e| Error::Decode(e.to_string()))
            }
        }
    }
}

/// Serializes as a serde byte string (`Bytes` has no `Serialize` without its `serde`
/// feature).
struct ByteString<'a>(&'a [u8]);

impl Serialize for ByteString<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// Replace each placeholder whose index names an attachment with that attachment's bytes
/// as a JSON array of numbers.
fn inline_attachments(value: Value, attachments: &[Bytes]) -> Value {
    match value {
        Value::Object(map) => {
            let index = (map.len() == 2 && map.get("_placeholder") == Some(&Value::Bool(true)))
                .then(|| map.get("num").and_then(Value::as_u64))
                .flatten()
                .and_then(|n| usize::try_from(n).ok());
            match index.and_then(|n| attachments.get(n)) {
                Some(bytes) => Value::Array(bytes.iter().map(|b| Value::from(*b)).collect()),
                None => Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, inline_attachments(v, attachments)))
                        .collect(),
                ),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| inline_attachments(v, attachments))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Move {
        x: i32,
        tag: String,
    }

    #[test]
    fn typed_round_trip_in_both_codecs() {
        for codec in [Codec::Json, Codec::Compact] {
            let m = Move {
                x: -3,
                tag: "up".into(),
            };
            let raw = RawPayload::encode(codec, &m).unwrap();
            assert_eq!(raw.codec(), codec);
            assert_eq!(raw.deserialize::<Move>().unwrap(), m);
            assert!(matches!(
                raw.deserialize::<Vec<bool>>(),
                Err(Error::Decode(_))
            ));
            let () = RawPayload::empty(codec).deserialize().unwrap();
        }
    }

    #[test]
    fn binary_reads_as_bytes_in_both_codecs() {
        for codec in [Codec::Json, Codec::Compact] {
            let bytes: Vec<u8> = (0..=255).collect();
            let raw = RawPayload::binary(codec, bytes.clone());
            assert_eq!(raw.deserialize::<Vec<u8>>().unwrap(), bytes, "{codec:?}");
        }
        let postcard = compact::to_payload(&vec![7u8; 300]).unwrap();
        assert_eq!(
            RawPayload::binary(Codec::Compact, vec![7u8; 300]),
            RawPayload::Compact(postcard)
        );
    }

    #[test]
    fn json_arguments_read_as_one_value_or_a_tuple() {
        let two = RawPayload::Json(Payload::from_parts(
            vec![Value::from("a"), Value::from(2)],
            vec![],
        ));
        assert_eq!(
            two.deserialize::<(String, u8)>().unwrap(),
            ("a".to_owned(), 2)
        );
        let nested = Payload::new()
            .arg(&serde_json::json!({"name": "blob"}))
            .unwrap();
        let mut nested = nested;
        let placeholder = nested.placeholder_for(vec![1u8, 2]);
        let (mut args, attachments) = nested.into_parts();
        args[0]["data"] = placeholder;
        #[derive(Deserialize)]
        struct Blob {
            name: String,
            data: Vec<u8>,
        }
        let blob: Blob = RawPayload::Json(Payload::from_parts(args, attachments))
            .deserialize()
            .unwrap();
        assert_eq!((blob.name.as_str(), blob.data), ("blob", vec![1, 2]));
    }
}
