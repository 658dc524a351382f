//! Exactly-once emits: emit ids, and the `tw:once` envelope a tickwire server unwraps.
//!
//! An emit sent with [`Client::emit_once_with_ack`](super::Client::emit_once_with_ack) gets an
//! emit id, unique within the client (a random 64-bit prefix and a counter), and travels as
//! the event `tw:once`:
//!
//! - JSON: `42<ack>["tw:once","<emit id>","<event>",<arguments>...]`;
//! - compact: an EVENT named `tw:once` whose payload is the postcard tuple
//!   `(emit id: str, event: str, payload: bytes)`, `payload` being what the event would
//!   carry on its own.
//!
//! Each retry sends the same emit id with a new ack id. The server runs the event's handler
//! for the first copy only and answers every copy with that run's answer, so the handler runs
//! once however many retries it takes (within the server's window of remembered ids).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tickwire_protocol::compact;
use tickwire_protocol::Payload;

use super::{Error, RawPayload};

/// The event an exactly-once emit travels as.
pub(crate) const ONCE_EVENT: &str = "tw:once";

/// The emit ids of one client: `<16 hex digits>-<counter in hex>`, at most 33 bytes (the
/// server accepts up to 64).
#[derive(Debug)]
pub(crate) struct EmitIds {
    prefix: u64,
    next: AtomicU64,
}

impl EmitIds {
    /// Ids with a random prefix, so that two clients (or two runs of one) never share one.
    pub(crate) fn random() -> EmitIds {
        EmitIds {
            prefix: rand::random(),
            next: AtomicU64::new(0),
        }
    }

    /// A fresh emit id.
    pub(crate) fn next(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:x}", self.prefix)
    }
}

/// The `tw:once` payload carrying `payload` of `event` under emit id `id`.
pub(crate) fn envelope(id: &str, event: &str, payload: RawPayload) -> Result<RawPayload, Error> {
    match payload {
        RawPayload::Json(payload) => {
            let (args, attachments) = payload.into_parts();
            let mut wrapped = Vec::with_capacity(args.len() + 2);
            wrapped.push(Value::from(id));
            wrapped.push(Value::from(event));
            wrapped.extend(args);
            Ok(RawPayload::Json(Payload::from_parts(wrapped, attachments)))
        }
        RawPayload::Compact(inner) => compact::to_payload(&(id, event, AsBytes(&inner)))
            .map(RawPayload::Compact)
            .map_err(|e| Error::Serialize(e.to_string())),
    }
}

/// Serializes as a serde byte string (postcard: its length, then the bytes).
struct AsBytes<'a>(&'a Bytes);

impl Serialize for AsBytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickwire_protocol::Codec;

    #[test]
    fn ids_are_unique_short_and_per_client() {
        let ids = EmitIds::random();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        assert!(
            a.len() <= 64 && a.ends_with("-0") && b.ends_with("-1"),
            "{a} {b}"
        );
        assert_ne!(EmitIds::random().next(), a);
    }

    #[test]
    fn json_envelopes_put_the_id_and_event_first() {
        let payload = Payload::new().arg(&7).unwrap().binary(vec![1u8]);
        let RawPayload::Json(wrapped) = envelope("e1", "buy", RawPayload::Json(payload)).unwrap()
        else {
            panic!("JSON expected")
        };
        assert_eq!(
            wrapped.args(),
            [
                Value::from("e1"),
                Value::from("buy"),
                Value::from(7),
                serde_json::json!({"_placeholder": true, "num": 0})
            ]
        );
        assert_eq!(wrapped.attachments().len(), 1);
    }

    #[test]
    fn compact_envelopes_are_the_documented_postcard_tuple() {
        // The vector the server's and the JS helper's tests hold too.
        let inner = RawPayload::encode(Codec::Compact, &(7u8, true)).unwrap();
        let RawPayload::Compact(bytes) = envelope("e1", "buy", inner).unwrap() else {
            panic!("compact expected")
        };
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "02653103627579020701");
    }
}
