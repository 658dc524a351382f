//! Plain EVENT and ACK packets read without building their arguments: each argument stays
//! the JSON text it came as, checked and located, and is parsed only when something asks
//! for it. An echo, or a relay of what a client sent, then parses nothing.
//!
//! A packet is read this way only when the result cannot differ from [`decode_text`]'s.
//! Anything else, refused or not, is left to [`decode_text`]: binary kinds, malformed text,
//! and valid JSON that a `Value` parse could still refuse (nested deeper than serde_json's
//! limit, a number that may not fit a float, an escaped surrogate).
//!
//! [`decode_text`]: super::decode_text

use std::borrow::Cow;
use std::ops::Range;

use bytestring::ByteString;
use serde_json::value::RawValue;

use super::packet::{header, DecodeConfig, PacketKind, RESERVED_EVENTS};
use crate::Payload;

/// A plain (non-binary) EVENT or ACK whose arguments are still JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct LazyPacket<'a> {
    /// [`PacketKind::Event`] or [`PacketKind::Ack`].
    pub kind: PacketKind,
    /// The namespace, `/` by default.
    pub nsp: &'a str,
    /// The ack id, on events that expect an answer and on acks.
    pub id: Option<u64>,
    /// The event's name; `None` for an ack.
    pub event: Option<Cow<'a, str>>,
    /// The arguments, held as their JSON text in the frame (shared, not copied).
    pub payload: Payload,
}

/// Read a text message as a plain EVENT or ACK with its arguments left as text (the
/// payload shares the message's bytes).
///
/// `None` means "read it with [`decode_text`](super::decode_text)": it is another kind of
/// packet, or text that only a full parse can accept or refuse with the right error.
///
/// ```
/// use bytestring::ByteString;
/// use tickwire_protocol::socketio::decode_lazy;
/// let frame = ByteString::from_static(r#"2/chat,7["say",{"to":"all"},3]"#);
/// let packet = decode_lazy(&frame, &Default::default()).unwrap();
/// assert_eq!((packet.nsp, packet.id, packet.event.as_deref()), ("/chat", Some(7), Some("say")));
/// let mut args = Vec::new();
/// packet.payload.write_json_args(&mut args).unwrap();
/// assert_eq!(args, br#"{"to":"all"},3"#);
/// ```
pub fn decode_lazy<'a>(frame: &'a ByteString, config: &DecodeConfig) -> Option<LazyPacket<'a>> {
    let text: &str = frame;
    if !matches!(text.as_bytes().first(), Some(b'2' | b'3')) {
        return None;
    }
    let header = header(text, config).ok()?;
    if !within_value_limits(header.rest.as_bytes()) {
        return None;
    }
    let elements: Vec<&RawValue> = serde_json::from_str(header.rest).ok()?;
    let offset = |raw: &RawValue| -> Range<usize> {
        let start = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        start..start + raw.get().len()
    };
    let (event, args) = match header.kind {
        PacketKind::Event => {
            let (name, args) = elements.split_first()?;
            let name = event_name(name.get())?;
            if RESERVED_EVENTS.contains(&name.as_ref()) {
                return None;
            }
            (Some(name), args)
        }
        _ => (None, &elements[..]),
    };
    Some(LazyPacket {
        kind: header.kind,
        nsp: header.nsp,
        id: header.id,
        event,
        payload: Payload::from_json_text(
            frame.as_bytes().clone(),
            args.iter().copied().map(offset).collect(),
        ),
    })
}

/// A string event name, borrowed when it has no escapes. A number (which the reference
/// parser accepts as a name) is left to the full parse.
fn event_name(json: &str) -> Option<Cow<'_, str>> {
    if !json.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(json) {
        Ok(name) => Some(Cow::Borrowed(name)),
        Err(_) => serde_json::from_str::<String>(json).ok().map(Cow::Owned),
    }
}

/// serde_json's recursion limit: a `Value` nested deeper is refused.
const MAX_DEPTH: u32 = 127;
/// The longest run of digits let through: any decimal this long fits an `f64`.
const MAX_DIGITS: u32 = 300;

/// Whether serde_json would also build a `Value` of this JSON, were it valid: nested at most
/// [`MAX_DEPTH`] deep, no exponent nor a run of digits that could overflow a float, and no
/// `\uD…` escape (a surrogate half, which must come paired). Conservative: some text it
/// turns away would parse.
fn within_value_limits(json: &[u8]) -> bool {
    let (mut depth, mut digits) = (0u32, 0u32);
    let mut i = 0;
    while let Some(&byte) = json.get(i) {
        match byte {
            b'"' => {
                i += 1;
                loop {
                    match json.get(i) {
                        None => return false,
                        Some(b'"') => break,
                        Some(b'\\') => {
                            if json.get(i + 1) == Some(&b'u')
                                && matches!(json.get(i + 2), Some(b'd' | b'D'))
                            {
                                return false;
                            }
                            i += 2;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'0'..=b'9' => {
                digits += 1;
                if digits > MAX_DIGITS {
                    return false;
                }
                i += 1;
                continue;
            }
            b'e' | b'E' if i > 0 && json[i - 1].is_ascii_digit() => return false,
            _ => {}
        }
        digits = 0;
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketio::decode_text;

    /// Kind, namespace, ack id, event name, and the arguments' JSON as written back.
    type Read = (PacketKind, String, Option<u64>, Option<String>, String);

    fn lazy(text: &str) -> Option<Read> {
        let frame = ByteString::from(text);
        let packet = decode_lazy(&frame, &DecodeConfig::default())?;
        let mut args = Vec::new();
        packet.payload.write_json_args(&mut args).unwrap();
        Some((
            packet.kind,
            packet.nsp.to_owned(),
            packet.id,
            packet.event.map(Cow::into_owned),
            String::from_utf8(args).unwrap(),
        ))
    }

    #[test]
    fn an_event_keeps_its_arguments_as_text() {
        let (kind, nsp, id, event, args) =
            lazy(r#"2["move",{"x":1,"y":[2,3]}, "fast" ,null]"#).unwrap();
        assert_eq!((kind, nsp.as_str(), id), (PacketKind::Event, "/", None));
        assert_eq!(event.as_deref(), Some("move"));
        assert_eq!(args, r#"{"x":1,"y":[2,3]},"fast",null"#);
    }

    #[test]
    fn an_ack_is_all_arguments() {
        let (kind, nsp, id, event, args) = lazy(r#"3/admin,12["ok",2]"#).unwrap();
        assert_eq!(
            (kind, nsp.as_str(), id),
            (PacketKind::Ack, "/admin", Some(12))
        );
        assert_eq!((event, args.as_str()), (None, r#""ok",2"#));
    }

    #[test]
    fn an_escaped_name_is_unescaped() {
        let (_, _, _, event, args) = lazy(r#"2["a\"b"]"#).unwrap();
        assert_eq!((event.as_deref(), args.as_str()), (Some("a\"b"), ""));
    }

    #[test]
    fn what_only_the_full_parse_can_judge_is_left_to_it() {
        for text in [
            "0",                                            // CONNECT
            "51-[\"a\",{\"_placeholder\":true,\"num\":0}]", // binary
            "2",                                            // no payload
            "2[]",                                          // no name
            "2[1]",                                         // a number as the name
            "2[\"disconnect\"]",                            // reserved
            "2{\"a\":1}",                                   // not an array
            "2[\"a\",",                                     // truncated
            "3",                                            // an ack without arguments
            "2[\"a\",1e400]",                               // an exponent
            "2[\"a\",\"\\ud800\"]",                         // a lone surrogate
        ] {
            assert_eq!(lazy(text), None, "{text}");
        }
        let long = format!("2[\"a\",{}]", "9".repeat(301));
        assert_eq!(lazy(&long), None);
    }

    #[test]
    fn nesting_is_let_through_as_deep_as_a_value_parse_allows() {
        let nested = |depth: usize| {
            format!(
                "2[\"a\",{}{}]",
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            )
        };
        let config = DecodeConfig::default();
        // The outer array is the first level.
        for depth in [126, 127, 128, 129] {
            let text = nested(depth);
            let full = decode_text(&text, &config).is_ok();
            assert_eq!(lazy(&text).is_some(), full, "depth {depth}");
            assert_eq!(full, depth <= MAX_DEPTH as usize, "depth {depth}");
        }
    }

    #[test]
    fn true_and_false_are_not_exponents() {
        assert!(lazy(r#"2["a",true,false,[1,true]]"#).is_some());
        assert!(lazy(r#"2["a","1e5"]"#).is_some());
    }
}
