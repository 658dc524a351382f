//! Event payloads: the arguments of an event or ack with their binary attachments, or the
//! postcard bytes of the compact codec, and typed extraction from either.

use std::ops::Range;
use std::sync::OnceLock;

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
///
/// A payload read from a client's plain event or ack keeps its arguments as the JSON text
/// they came in ([`Payload::from_json_text`]) until something looks at them as values: typed
/// extraction reads straight from the text, and sending the payload on copies it.
#[derive(Debug, Clone, Default)]
pub struct Payload {
    /// The arguments as values, unless `text` holds them.
    args: Vec<Value>,
    /// The arguments as JSON text, until something changes them.
    text: Option<JsonText>,
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
            ..Payload::default()
        }
    }

    /// A payload whose arguments are the JSON at `args` in `text`, each a whole JSON value
    /// that [`decode_lazy`](crate::socketio::decode_lazy) checked and located. A range
    /// outside `text` reads as `null`.
    pub(crate) fn from_json_text(text: impl Into<Bytes>, args: Vec<Range<usize>>) -> Payload {
        Payload {
            text: Some(JsonText {
                text: text.into(),
                args,
                values: OnceLock::new(),
            }),
            ..Payload::default()
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
        let value = serde_json::to_value(value)?;
        self.args_mut().push(value);
        Ok(self)
    }

    /// Append a binary argument.
    pub fn binary(mut self, bytes: impl Into<Bytes>) -> Payload {
        let value = self.placeholder_for(bytes);
        self.args_mut().push(value);
        self
    }

    /// Register `bytes` as an attachment and return the placeholder to put anywhere inside
    /// an argument (for binary nested in objects).
    pub fn placeholder_for(&mut self, bytes: impl Into<Bytes>) -> Value {
        self.attachments.push(bytes.into());
        placeholder(self.attachments.len() - 1)
    }

    /// The arguments (binary ones as placeholders). A payload still in JSON text is parsed
    /// the first time.
    pub fn args(&self) -> &[Value] {
        match &self.text {
            Some(text) => text.values(),
            None => &self.args,
        }
    }

    /// How many arguments there are (a payload in JSON text is not parsed for it).
    pub fn arg_count(&self) -> usize {
        match &self.text {
            Some(text) => text.args.len(),
            None => self.args.len(),
        }
    }

    /// The arguments, to change in place (binary ones as placeholders).
    pub fn args_mut(&mut self) -> &mut Vec<Value> {
        if let Some(text) = self.text.take() {
            self.args = text.into_values();
        }
        &mut self.args
    }

    /// Append the arguments' JSON to `out`, separated by commas: the text they came in when
    /// the payload still holds it, else each value serialized.
    pub fn write_json_args(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        if let Some(text) = &self.text {
            for (n, arg) in text.slices().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(arg.unwrap_or(b"null"));
            }
            return Ok(());
        }
        for (n, arg) in self.args.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut *out, arg)?;
        }
        Ok(())
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
    pub fn into_parts(mut self) -> (Vec<Value>, Vec<Bytes>) {
        self.args_mut();
        (self.args, self.attachments)
    }

    /// [`Payload::deserialize`], taking the arguments instead of copying them.
    pub fn into_deserialize<T: DeserializeOwned + 'static>(mut self) -> Result<T, String> {
        let single_text = self.text.as_ref().is_some_and(|text| text.only().is_some());
        if self.compact.is_some() || single_text {
            return self.deserialize();
        }
        // Several arguments in text are parsed once, then taken like any others.
        self.args_mut();
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
        if let Some(text) = &self.text {
            // One argument reads straight from its text; several go through their values.
            if let Some(one) = text.only() {
                return serde_json::from_slice(one).map_err(|e| e.to_string());
            }
        }
        match self.args() {
            [one] => T::deserialize(one),
            many => T::deserialize(Value::Array(many.to_vec())),
        }
        .map_err(|e| e.to_string())
    }
}

impl PartialEq for Payload {
    /// Payloads are equal when their arguments, attachments and compact bytes are, whether
    /// the arguments are held as text or as values.
    fn eq(&self, other: &Payload) -> bool {
        self.compact == other.compact
            && self.attachments == other.attachments
            && self.args() == other.args()
    }
}

/// Arguments kept as the JSON text they arrived in.
#[derive(Debug, Clone)]
struct JsonText {
    text: Bytes,
    /// Each argument's place in `text`.
    args: Vec<Range<usize>>,
    /// The arguments parsed, once something asked for them as values.
    values: OnceLock<Vec<Value>>,
}

impl JsonText {
    /// Each argument's JSON; `None` for a range outside the text.
    fn slices(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.args.iter().map(|range| self.text.get(range.clone()))
    }

    /// The JSON of the only argument, when there is exactly one.
    fn only(&self) -> Option<&[u8]> {
        match self.args.as_slice() {
            [range] => self.text.get(range.clone()),
            _ => None,
        }
    }

    fn values(&self) -> &[Value] {
        self.values.get_or_init(|| self.parse())
    }

    fn into_values(mut self) -> Vec<Value> {
        match self.values.take() {
            Some(values) => values,
            None => self.parse(),
        }
    }

    /// What a slice that is not one JSON value reads as: `null` (a caller of
    /// [`Payload::from_json_text`] gave ranges that [`decode_lazy`](crate::socketio::decode_lazy)
    /// would not).
    fn parse(&self) -> Vec<Value> {
        self.slices()
            .map(|arg| {
                arg.and_then(|json| serde_json::from_slice(json).ok())
                    .unwrap_or(Value::Null)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEXT: &str = r#"2["e",{"b":1,"a":[2,3]},"x"]"#;

    fn lazy() -> Payload {
        Payload::from_json_text(TEXT, vec![6..23, 24..27])
    }

    fn written(payload: &Payload) -> String {
        let mut out = Vec::new();
        payload.write_json_args(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_payload_in_text_reads_as_its_values() {
        let parsed = Payload::from_parts(vec![json!({"b": 1, "a": [2, 3]}), json!("x")], vec![]);
        assert_eq!(lazy(), parsed);
        assert_eq!(lazy().arg_count(), 2);
        assert_eq!(
            lazy().deserialize::<(Value, String)>().unwrap().1,
            "x".to_owned()
        );
        assert_eq!(lazy().into_parts(), parsed.into_parts());
    }

    #[test]
    fn one_argument_is_read_straight_from_its_text() {
        let one = Payload::from_json_text(TEXT, std::iter::once(6..23).collect());
        #[derive(serde::Deserialize)]
        struct Move {
            b: u8,
            a: Vec<u8>,
        }
        let m: Move = one.deserialize().unwrap();
        assert_eq!((m.b, m.a), (1, vec![2, 3]));
        let value: Value = one.clone().into_deserialize().unwrap();
        assert_eq!(value, json!({"b": 1, "a": [2, 3]}));
        assert!(one.deserialize::<String>().is_err());
    }

    #[test]
    fn it_is_written_back_as_it_came_until_changed() {
        assert_eq!(written(&lazy()), r#"{"b":1,"a":[2,3]},"x""#);
        let mut changed = lazy();
        changed.args_mut()[1] = json!("y");
        assert_eq!(written(&changed), r#"{"b":1,"a":[2,3]},"y""#);
        let appended = lazy().arg(&7).unwrap();
        assert_eq!(written(&appended), r#"{"b":1,"a":[2,3]},"x",7"#);
    }

    #[test]
    fn a_range_outside_the_text_reads_as_null() {
        let broken = Payload::from_json_text(TEXT, vec![6..23, 40..50]);
        assert_eq!(broken.args()[1], Value::Null);
        assert_eq!(written(&broken), r#"{"b":1,"a":[2,3]},null"#);
    }
}
