//! Per-connection codecs and encode-once fan-out.
//!
//! A connection picks its codec at the Engine.IO handshake (`codec=json`, the default, or
//! `codec=compact`). Broadcasts encode through an [`EncodeOnce`], which encodes the packet
//! the first time a member with a given codec needs it and hands the same bytes to every
//! other member with that codec.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use bytestring::ByteString;
use serde::Serialize;
use tickwire_protocol::socketio::Packet;

use super::error::SendError;
use super::payload::Payload;
use crate::engine::{Codec, Frame};

/// Events encoded per codec by one server (its metrics, and what the encode-once tests
/// count).
#[derive(Debug, Default)]
pub(crate) struct EncodeCounters([AtomicU64; 2]);

impl EncodeCounters {
    #[inline]
    fn count(&self, codec: Codec) {
        self.0[codec.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Events encoded with `codec` so far.
    pub(crate) fn get(&self, codec: Codec) -> u64 {
        self.0[codec.index()].load(Ordering::Relaxed)
    }
}

/// Encode an event with one typed argument for `codec`.
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    encodes: &EncodeCounters,
    codec: Codec,
    nsp: &str,
    event: &str,
    data: &T,
    id: Option<u64>,
) -> Result<Vec<Frame>, SendError> {
    encodes.count(codec);
    match codec {
        Codec::Json => json_event(nsp, event, data, id, None).map(|f| vec![f]),
        Codec::Compact => super::compact::encode_event(nsp, event, data, id).map(|f| vec![f]),
    }
}

/// An event from a raw [`Payload`]: JSON arguments and attachments, or compact bytes.
pub(crate) fn encode_payload_event(
    encodes: &EncodeCounters,
    codec: Codec,
    nsp: &str,
    event: &str,
    payload: &Payload,
    id: Option<u64>,
) -> Result<Vec<Frame>, SendError> {
    encodes.count(codec);
    match (codec, payload.compact_bytes()) {
        (Codec::Compact, Some(bytes)) => {
            super::compact::encode_raw_event(nsp, event, bytes.clone(), id).map(|f| vec![f])
        }
        (Codec::Compact, None) => Err(mismatch()),
        (Codec::Json, Some(_)) => Err(mismatch()),
        (Codec::Json, None) => json_args_frames(nsp, id, Some(event), payload),
    }
}

/// An ack with one typed argument.
pub(crate) fn encode_ack<T: Serialize + ?Sized>(
    codec: Codec,
    nsp: &str,
    id: u64,
    data: &T,
) -> Result<Vec<Frame>, SendError> {
    match codec {
        Codec::Json => {
            // `43[<nsp>,]<id>[<data>]`, serialized straight into the frame's buffer.
            let mut out = Vec::with_capacity(32);
            out.extend_from_slice(b"43");
            if nsp != "/" {
                out.extend_from_slice(nsp.as_bytes());
                out.push(b',');
            }
            out.extend_from_slice(id.to_string().as_bytes());
            out.push(b'[');
            serde_json::to_writer(&mut out, data)
                .map_err(|e| SendError::Serialize(e.to_string()))?;
            out.push(b']');
            let text = String::from_utf8(out).map_err(|e| SendError::Serialize(e.to_string()))?;
            Ok(vec![Frame::Text(ByteString::from(text))])
        }
        Codec::Compact => super::compact::encode_ack(nsp, id, data).map(|f| vec![f]),
    }
}

/// An ack from a raw [`Payload`].
pub(crate) fn encode_payload_ack(
    codec: Codec,
    nsp: &str,
    id: u64,
    payload: &Payload,
) -> Result<Vec<Frame>, SendError> {
    match (codec, payload.compact_bytes()) {
        (Codec::Compact, Some(bytes)) => {
            super::compact::encode_raw_ack(nsp, id, bytes.clone()).map(|f| vec![f])
        }
        (Codec::Json, None) => json_args_frames(nsp, Some(id), None, payload),
        _ => Err(mismatch()),
    }
}

/// An EVENT (with `event`) or ACK (without) from a raw JSON payload, written straight into
/// the frame's buffer (a payload still in the text it came in is copied, not parsed), then
/// its attachments.
fn json_args_frames(
    nsp: &str,
    id: Option<u64>,
    event: Option<&str>,
    payload: &Payload,
) -> Result<Vec<Frame>, SendError> {
    let err = |e: serde_json::Error| SendError::Serialize(e.to_string());
    let binary = !payload.attachments().is_empty();
    let kind = match (event.is_some(), binary) {
        (true, false) => b'2',
        (true, true) => b'5',
        (false, false) => b'3',
        (false, true) => b'6',
    };
    let mut out = Vec::with_capacity(64);
    out.push(b'4');
    out.push(kind);
    if binary {
        out.extend_from_slice(format!("{}-", payload.attachments().len()).as_bytes());
    }
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        out.extend_from_slice(id.to_string().as_bytes());
    }
    out.push(b'[');
    if let Some(event) = event {
        serde_json::to_writer(&mut out, event).map_err(err)?;
        if payload.arg_count() > 0 {
            out.push(b',');
        }
    }
    payload.write_json_args(&mut out).map_err(err)?;
    out.push(b']');
    let text = String::from_utf8(out).map_err(|e| SendError::Serialize(e.to_string()))?;
    let mut frames = Vec::with_capacity(1 + payload.attachments().len());
    frames.push(Frame::Text(ByteString::from(text)));
    frames.extend(payload.attachments().iter().cloned().map(Frame::Binary));
    Ok(frames)
}

/// CONNECT reply, DISCONNECT or CONNECT_ERROR.
pub(crate) fn encode_control(codec: Codec, packet: &Packet) -> Vec<Frame> {
    match codec {
        Codec::Json => json_frames(packet),
        Codec::Compact => super::compact::encode_control(packet)
            .map(|f| vec![f])
            .unwrap_or_default(),
    }
}

fn mismatch() -> SendError {
    SendError::Serialize(
        "a raw payload travels only on the codec it was made for; emit a typed value to reach both"
            .into(),
    )
}

/// A JSON-codec packet as Engine.IO frames: its text message, then its attachments.
pub(crate) fn json_frames(packet: &Packet) -> Vec<Frame> {
    let mut text = String::with_capacity(64);
    text.push('4');
    tickwire_protocol::socketio::encode_into(packet, &mut text);
    let mut frames = Vec::with_capacity(1 + packet.attachments.len());
    frames.push(Frame::Text(ByteString::from(text)));
    frames.extend(packet.attachments.iter().cloned().map(Frame::Binary));
    frames
}

/// `42[<nsp>,][<id>]["<event>",<data>]`, serialized straight into the frame's buffer.
fn json_event<T: Serialize + ?Sized>(
    nsp: &str,
    event: &str,
    data: &T,
    id: Option<u64>,
    extra: Option<&str>,
) -> Result<Frame, SendError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"42");
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        let mut digits = String::new();
        let _ = write!(digits, "{id}");
        out.extend_from_slice(digits.as_bytes());
    }
    out.push(b'[');
    serde_json::to_writer(&mut out, event).map_err(|e| SendError::Serialize(e.to_string()))?;
    out.push(b',');
    serde_json::to_writer(&mut out, data).map_err(|e| SendError::Serialize(e.to_string()))?;
    if let Some(extra) = extra {
        out.push(b',');
        serde_json::to_writer(&mut out, extra).map_err(|e| SendError::Serialize(e.to_string()))?;
    }
    out.push(b']');
    // serde_json writes valid UTF-8, and so do the ASCII and `&str` pieces around it.
    let text = String::from_utf8(out).map_err(|e| SendError::Serialize(e.to_string()))?;
    Ok(Frame::Text(ByteString::from(text)))
}

/// One packet, encoded lazily at most once per codec.
pub(crate) struct EncodeOnce<'a, T: Serialize + ?Sized> {
    encodes: &'a EncodeCounters,
    nsp: &'a str,
    event: &'a str,
    data: &'a T,
    id: Option<u64>,
    /// A recovery offset appended to the JSON packet's arguments.
    json_offset: Option<String>,
    cache: [Option<Vec<Frame>>; 2],
}

impl<'a, T: Serialize + ?Sized> EncodeOnce<'a, T> {
    pub(crate) fn new(
        encodes: &'a EncodeCounters,
        nsp: &'a str,
        event: &'a str,
        data: &'a T,
        id: Option<u64>,
    ) -> Self {
        EncodeOnce {
            encodes,
            nsp,
            event,
            data,
            id,
            json_offset: None,
            cache: [None, None],
        }
    }

    /// Append `offset` as the JSON packet's last argument (connection state recovery).
    pub(crate) fn with_json_offset(mut self, offset: Option<String>) -> Self {
        self.json_offset = offset;
        self
    }

    /// The frames for `codec`, encoding them on first use.
    pub(crate) fn frames(&mut self, codec: Codec) -> Result<&[Frame], SendError> {
        let slot = &mut self.cache[codec.index()];
        if slot.is_none() {
            *slot = Some(match (codec, &self.json_offset) {
                (Codec::Json, Some(offset)) => {
                    self.encodes.count(codec);
                    vec![json_event(
                        self.nsp,
                        self.event,
                        self.data,
                        self.id,
                        Some(offset),
                    )?]
                }
                _ => encode_event(
                    self.encodes,
                    codec,
                    self.nsp,
                    self.event,
                    self.data,
                    self.id,
                )?,
            });
        }
        Ok(slot.as_deref().unwrap_or_default())
    }
}

/// Append a recovery offset as the last argument of a JSON event packet: the packet's text
/// is the event's argument array, so `…]` becomes `…,"<offset>"]`. `None` for a packet that
/// has no JSON text (a compact one).
pub(crate) fn with_json_offset(frames: &[Frame], offset: &str) -> Option<Vec<Frame>> {
    let mut out = frames.to_vec();
    let Some(Frame::Text(text)) = out.first() else {
        return None;
    };
    let head = text.strip_suffix(']')?;
    let mut patched = String::with_capacity(text.len() + offset.len() + 4);
    patched.push_str(head);
    patched.push_str(",\"");
    // Offsets are ours (digits, dashes, hex): nothing to escape; refuse anything else.
    if offset.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return None;
    }
    patched.push_str(offset);
    patched.push_str("\"]");
    out[0] = Frame::Text(ByteString::from(patched));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_event_matches_the_generic_encoder() {
        let data = serde_json::json!({"b": 1, "a": [true, null, "x\"y"]});
        for (nsp, id) in [("/", None), ("/chat", Some(12)), ("/", Some(0))] {
            let Frame::Text(fast) = json_event(nsp, "ev\n", &data, id, None).unwrap() else {
                panic!("text expected")
            };
            let packet =
                tickwire_protocol::socketio::Packet::event(nsp, "ev\n", [data.clone()], vec![], id);
            let generic = format!("4{}", tickwire_protocol::socketio::encode(&packet));
            assert_eq!(&*fast, generic.as_str());
        }
    }

    #[test]
    fn json_ack_matches_the_generic_encoder() {
        let data = serde_json::json!({"z": [1, "two"], "a": null});
        for (nsp, id) in [("/", 0), ("/chat", 12_345)] {
            let frames = encode_ack(Codec::Json, nsp, id, &data).unwrap();
            let packet = Packet::ack(nsp, id, vec![data.clone()], Vec::new());
            assert_eq!(frames, json_frames(&packet));
        }
    }

    #[test]
    fn raw_payload_frames_match_the_generic_encoder() {
        let with_bin = Payload::new()
            .arg(&serde_json::json!({"b": [1, 2]}))
            .unwrap()
            .binary(vec![1u8, 2, 3]);
        let plain = Payload::new().arg(&"x").unwrap().arg(&7).unwrap();
        for payload in [with_bin, plain, Payload::new()] {
            for (nsp, id) in [("/", None), ("/chat", Some(9))] {
                let encodes = EncodeCounters::default();
                let frames =
                    encode_payload_event(&encodes, Codec::Json, nsp, "ev", &payload, id).unwrap();
                let packet = Packet::event(
                    nsp,
                    "ev",
                    payload.args().to_vec(),
                    payload.attachments().to_vec(),
                    id,
                );
                assert_eq!(frames, json_frames(&packet));
                let frames = encode_payload_ack(Codec::Json, nsp, 4, &payload).unwrap();
                let packet = Packet::ack(
                    nsp,
                    4,
                    payload.args().to_vec(),
                    payload.attachments().to_vec(),
                );
                assert_eq!(frames, json_frames(&packet));
            }
        }
    }

    #[test]
    fn the_offset_is_appended_as_the_last_argument() {
        let encodes = EncodeCounters::default();
        let data = serde_json::json!({"a": [1, 2]});
        let base = encode_event(&encodes, Codec::Json, "/", "ev", &data, None).unwrap();
        assert_eq!(
            with_json_offset(&base, "42").unwrap(),
            vec![Frame::Text(r#"42["ev",{"a":[1,2]},"42"]"#.into())]
        );
        let compact = encode_event(&encodes, Codec::Compact, "/", "ev", &data, None).unwrap();
        assert_eq!(with_json_offset(&compact, "1"), None);
        assert_eq!(
            (encodes.get(Codec::Json), encodes.get(Codec::Compact)),
            (1, 1)
        );
    }
}
