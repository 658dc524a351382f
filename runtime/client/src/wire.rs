//! The client's side of the wire, without I/O: Socket.IO packets to Engine.IO messages and
//! back, in either codec, through the protocol crate.
//!
//! The driver hands [`Wire::encode`] what to send and gets websocket frames; it feeds every
//! Engine.IO message it receives to [`Wire::decode`] and gets whole packets (binary
//! attachments reassembled) for its namespace.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::Value;
use tickwire_protocol::compact::{self, CompactKind, CompactPacket, EventName};
use tickwire_protocol::engineio::Packet as EioPacket;
use tickwire_protocol::socketio::{self, DecodeConfig, Packet, PacketKind, Reassembler};

use super::{Error, ProtocolError, RawPayload};
use tickwire_protocol::Codec;
use tickwire_protocol::Payload;

/// A Socket.IO packet the client sends on its namespace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outgoing {
    /// Join the namespace, with the auth object if any.
    Connect(Option<Value>),
    /// Leave the namespace.
    Disconnect,
    /// An event, with an ack id when an answer is expected.
    Event {
        event: String,
        payload: RawPayload,
        id: Option<u64>,
    },
    /// The answer to the server's event `id`.
    Ack { id: u64, payload: RawPayload },
}

/// A Socket.IO packet received on the client's namespace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Inbound {
    /// The namespace accepted the client; `sid` is the socket id, `pid` the private session
    /// id of connection state recovery (when the server has it on).
    Connect {
        sid: Option<String>,
        pid: Option<String>,
    },
    /// The namespace refused the client.
    ConnectError {
        message: String,
        data: Option<Value>,
    },
    /// The server removed the socket.
    Disconnect,
    /// An event, with the ack id when the server expects an answer.
    Event {
        event: String,
        payload: RawPayload,
        id: Option<u64>,
    },
    /// The answer to the client's event `id`.
    Ack { id: u64, payload: RawPayload },
}

/// A websocket frame to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsOut {
    Text(String),
    Binary(Bytes),
}

impl WsOut {
    /// The frame of an Engine.IO packet: binary messages are the bytes themselves, every
    /// other packet its text form.
    pub(crate) fn engine(packet: &EioPacket) -> WsOut {
        match packet {
            EioPacket::Binary(bytes) => WsOut::Binary(bytes.clone()),
            other => WsOut::Text(other.encode_text().unwrap_or_default()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            WsOut::Text(text) => text.len(),
            WsOut::Binary(bytes) => bytes.len(),
        }
    }
}

/// The encoder and decoder of one connection.
#[derive(Debug)]
pub(crate) struct Wire {
    codec: Codec,
    nsp: String,
    reassembler: Reassembler,
    limits: compact::Limits,
}

impl Wire {
    /// A fresh connection on namespace `nsp` speaking `codec`; inbound compact frames are
    /// refused past `max_frame_len`, JSON binary packets past `max_attachments`.
    pub(crate) fn new(
        codec: Codec,
        nsp: &str,
        max_frame_len: usize,
        max_attachments: usize,
    ) -> Wire {
        Wire {
            codec,
            nsp: nsp.to_owned(),
            reassembler: Reassembler::new(DecodeConfig { max_attachments }),
            limits: compact::Limits {
                max_frame_len,
                ..compact::Limits::default()
            },
        }
    }

    /// The frames of one outgoing packet, in order.
    pub(crate) fn encode(&self, packet: Outgoing) -> Result<Vec<WsOut>, Error> {
        match self.codec {
            Codec::Json => self.encode_json(packet),
            Codec::Compact => self.encode_compact(packet),
        }
    }

    fn encode_json(&self, packet: Outgoing) -> Result<Vec<WsOut>, Error> {
        let nsp = self.nsp.as_str();
        let packet = match packet {
            Outgoing::Connect(auth) => Packet::connect(nsp, auth),
            Outgoing::Disconnect => Packet::disconnect(nsp),
            Outgoing::Event { event, payload, id } => {
                let (args, attachments) = json_parts(payload)?;
                Packet::event(nsp, &event, args, attachments, id)
            }
            Outgoing::Ack { id, payload } => {
                let (args, attachments) = json_parts(payload)?;
                Packet::ack(nsp, id, args, attachments)
            }
        };
        let text = EioPacket::message_frame(&socketio::encode(&packet));
        let mut frames = Vec::with_capacity(1 + packet.attachments.len());
        frames.push(WsOut::Text(text));
        frames.extend(
            packet
                .attachments
                .into_iter()
                .map(|bytes| WsOut::engine(&EioPacket::Binary(bytes))),
        );
        Ok(frames)
    }

    fn encode_compact(&self, packet: Outgoing) -> Result<Vec<WsOut>, Error> {
        let nsp: Cow<'static, str> = Cow::Owned(self.nsp.clone());
        let packet = match packet {
            Outgoing::Connect(auth) => CompactPacket::connect(nsp, auth.as_ref()),
            Outgoing::Disconnect => CompactPacket::disconnect(nsp),
            Outgoing::Event { event, payload, id } => {
                CompactPacket::event(nsp, event_name(event), compact_bytes(payload)?, id)
            }
            Outgoing::Ack { id, payload } => CompactPacket::ack(nsp, id, compact_bytes(payload)?),
        };
        let frame = compact::encode(&packet).map_err(|e| Error::Serialize(e.to_string()))?;
        Ok(vec![WsOut::engine(&EioPacket::Binary(frame))])
    }

    /// Feed one Engine.IO message (`Message` or `Binary`; other packets are the driver's).
    /// Returns a whole packet for this client's namespace, `None` while a JSON binary packet
    /// waits for attachments or for a packet of another namespace.
    pub(crate) fn decode(&mut self, message: EioPacket) -> Result<Option<Inbound>, ProtocolError> {
        let packet = match message {
            EioPacket::Binary(bytes) if self.codec == Codec::Compact => {
                return self.read_compact(compact::decode(bytes, &self.limits)?);
            }
            EioPacket::Message(text) => self.reassembler.feed_text(&text)?,
            EioPacket::Binary(bytes) => self.reassembler.feed_binary(bytes)?,
            _ => None,
        };
        match packet {
            Some(packet) => self.read_json(packet),
            None => Ok(None),
        }
    }

    fn read_json(&self, packet: Packet) -> Result<Option<Inbound>, ProtocolError> {
        if packet.nsp != self.nsp {
            tracing::debug!(nsp = %packet.nsp, "packet for another namespace; ignored");
            return Ok(None);
        }
        Ok(Some(match packet.kind {
            PacketKind::Connect => Inbound::Connect {
                sid: string_field(packet.data.as_ref(), "sid"),
                pid: string_field(packet.data.as_ref(), "pid"),
            },
            PacketKind::ConnectError => {
                let (message, data) = refusal(packet.data);
                Inbound::ConnectError { message, data }
            }
            PacketKind::Disconnect => Inbound::Disconnect,
            PacketKind::Event | PacketKind::BinaryEvent => {
                let event = packet
                    .event_name()
                    .ok_or(ProtocolError::Unexpected("event name is not a string"))?
                    .to_owned();
                let id = packet.id;
                let (args, attachments) = packet.into_args();
                Inbound::Event {
                    event,
                    payload: RawPayload::Json(Payload::from_parts(args, attachments)),
                    id,
                }
            }
            PacketKind::Ack | PacketKind::BinaryAck => {
                let id = packet
                    .id
                    .ok_or(ProtocolError::Unexpected("ACK without an ack id"))?;
                let (args, attachments) = packet.into_args();
                Inbound::Ack {
                    id,
                    payload: RawPayload::Json(Payload::from_parts(args, attachments)),
                }
            }
        }))
    }

    fn read_compact(&self, packet: CompactPacket) -> Result<Option<Inbound>, ProtocolError> {
        if packet.nsp != self.nsp {
            tracing::debug!(nsp = %packet.nsp, "packet for another namespace; ignored");
            return Ok(None);
        }
        Ok(Some(match packet.kind {
            CompactKind::Connect => {
                let data = packet.json()?;
                Inbound::Connect {
                    sid: string_field(data.as_ref(), "sid"),
                    pid: string_field(data.as_ref(), "pid"),
                }
            }
            CompactKind::ConnectError => {
                let (message, data) = refusal(packet.json()?);
                Inbound::ConnectError { message, data }
            }
            CompactKind::Disconnect => Inbound::Disconnect,
            CompactKind::Event => Inbound::Event {
                event: match &packet.event {
                    Some(EventName::Name(name)) => name.to_string(),
                    Some(EventName::Id(id)) => format!("#{id}"),
                    None => return Err(ProtocolError::Unexpected("EVENT without an event")),
                },
                payload: RawPayload::Compact(packet.payload),
                id: packet.id,
            },
            CompactKind::Ack => Inbound::Ack {
                id: packet
                    .id
                    .ok_or(ProtocolError::Unexpected("ACK without an ack id"))?,
                payload: RawPayload::Compact(packet.payload),
            },
        }))
    }
}

/// `#<n>` names the compact codec's numeric event `n`; any other name is sent as a name.
fn event_name(event: String) -> EventName {
    let id = event
        .strip_prefix('#')
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u32>().ok());
    match id {
        Some(id) => EventName::Id(id),
        None => EventName::from(event),
    }
}

fn json_parts(payload: RawPayload) -> Result<(Vec<Value>, Vec<Bytes>), Error> {
    match payload {
        RawPayload::Json(payload) => Ok(payload.into_parts()),
        RawPayload::Compact(_) => Err(Error::CodecMismatch {
            client: Codec::Json,
            payload: Codec::Compact,
        }),
    }
}

fn compact_bytes(payload: RawPayload) -> Result<Bytes, Error> {
    match payload {
        RawPayload::Compact(bytes) => Ok(bytes),
        RawPayload::Json(_) => Err(Error::CodecMismatch {
            client: Codec::Compact,
            payload: Codec::Json,
        }),
    }
}

/// A string field of a CONNECT reply's `{"sid": ..., "pid": ...}`.
fn string_field(data: Option<&Value>, key: &str) -> Option<String> {
    data.and_then(|d| d.get(key))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A CONNECT_ERROR's `{"message", "data"?}` (or a bare string, from older servers).
fn refusal(data: Option<Value>) -> (String, Option<Value>) {
    match data {
        Some(Value::String(message)) => (message, None),
        Some(Value::Object(mut obj)) => {
            let message = match obj.remove("message") {
                Some(Value::String(m)) => m,
                _ => "connection refused".to_owned(),
            };
            (message, obj.remove("data"))
        }
        _ => ("connection refused".to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire(codec: Codec, nsp: &str) -> Wire {
        Wire::new(codec, nsp, 1 << 20, 8)
    }

    fn texts(frames: &[WsOut]) -> Vec<&str> {
        frames
            .iter()
            .filter_map(|f| match f {
                WsOut::Text(t) => Some(t.as_str()),
                WsOut::Binary(_) => None,
            })
            .collect()
    }

    #[test]
    fn json_frames_match_the_socketio_text_form() {
        let w = wire(Codec::Json, "/game");
        let connect = w.encode(Outgoing::Connect(Some(json!({"token": "t"}))));
        assert_eq!(texts(&connect.unwrap()), [r#"40/game,{"token":"t"}"#]);
        let event = Outgoing::Event {
            event: "move".into(),
            payload: RawPayload::encode(Codec::Json, &json!({"x": 1})).unwrap(),
            id: Some(4),
        };
        assert_eq!(
            texts(&w.encode(event).unwrap()),
            [r#"42/game,4["move",{"x":1}]"#]
        );
        let main = wire(Codec::Json, "/");
        let frames = main
            .encode(Outgoing::Ack {
                id: 9,
                payload: RawPayload::binary(Codec::Json, vec![1u8, 2]),
            })
            .unwrap();
        assert_eq!(
            frames,
            [
                WsOut::Text(r#"461-9[{"_placeholder":true,"num":0}]"#.into()),
                WsOut::Binary(Bytes::from_static(&[1, 2])),
            ]
        );
        assert_eq!(texts(&main.encode(Outgoing::Disconnect).unwrap()), ["41"]);
    }

    #[test]
    fn json_decoding_reassembles_binary_and_filters_namespaces() {
        let mut w = wire(Codec::Json, "/");
        let msg = |t: &str| EioPacket::Message(t.to_owned());
        assert_eq!(
            w.decode(msg(r#"0{"sid":"abc"}"#)).unwrap(),
            Some(Inbound::Connect {
                sid: Some("abc".into()),
                pid: None,
            })
        );
        assert_eq!(w.decode(msg(r#"2/other,["x"]"#)).unwrap(), None);
        assert_eq!(
            w.decode(msg(r#"51-3["blob",{"_placeholder":true,"num":0}]"#))
                .unwrap(),
            None
        );
        let inbound = w
            .decode(EioPacket::Binary(Bytes::from_static(b"\x01")))
            .unwrap();
        let Some(Inbound::Event { event, payload, id }) = inbound else {
            panic!("event expected, got {inbound:?}")
        };
        assert_eq!((event.as_str(), id), ("blob", Some(3)));
        assert_eq!(payload.deserialize::<Vec<u8>>().unwrap(), [1]);
        assert_eq!(
            w.decode(msg(r#"4{"message":"nope","data":{"a":1}}"#))
                .unwrap(),
            Some(Inbound::ConnectError {
                message: "nope".into(),
                data: Some(json!({"a": 1}))
            })
        );
        assert_eq!(w.decode(msg("1")).unwrap(), Some(Inbound::Disconnect));
    }

    #[test]
    fn bad_json_frames_are_typed_errors() {
        let mut w = wire(Codec::Json, "/");
        for bad in ["", "9", "2[1", "3[]", "2[2]", "59-[]", "2{}"] {
            assert!(
                w.decode(EioPacket::Message(bad.to_owned())).is_err(),
                "{bad:?}"
            );
        }
        assert!(w
            .decode(EioPacket::Binary(Bytes::from_static(b"stray")))
            .is_err());
    }

    #[test]
    fn compact_round_trip_through_the_protocol_decoder() {
        let w = wire(Codec::Compact, "/game");
        let frames = w
            .encode(Outgoing::Event {
                event: "#5".into(),
                payload: RawPayload::encode(Codec::Compact, &(1u8, true)).unwrap(),
                id: Some(2),
            })
            .unwrap();
        let [WsOut::Binary(frame)] = frames.as_slice() else {
            panic!("one binary frame expected: {frames:?}")
        };
        let packet = compact::decode(frame.clone(), &compact::Limits::default()).unwrap();
        assert_eq!(packet.event, Some(EventName::Id(5)));
        assert_eq!(packet.id, Some(2));

        // What the server sends back decodes into the same shapes as JSON.
        let mut w = wire(Codec::Compact, "/game");
        let encode = |p: &CompactPacket| EioPacket::Binary(compact::encode(p).unwrap());
        let connect = CompactPacket::connect("/game", Some(&json!({"sid": "s1", "pid": "p1"})));
        assert_eq!(
            w.decode(encode(&connect)).unwrap(),
            Some(Inbound::Connect {
                sid: Some("s1".into()),
                pid: Some("p1".into()),
            })
        );
        let event = CompactPacket::event(
            "/game",
            "state",
            compact::to_payload(&vec![1u16, 2]).unwrap(),
            None,
        );
        let Some(Inbound::Event { event, payload, .. }) = w.decode(encode(&event)).unwrap() else {
            panic!("event expected")
        };
        assert_eq!(event, "state");
        assert_eq!(payload.deserialize::<Vec<u16>>().unwrap(), [1, 2]);
        assert!(w
            .decode(EioPacket::Binary(Bytes::from_static(&[9, 9, 9])))
            .is_err());
    }

    #[test]
    fn payload_of_the_other_codec_is_refused() {
        let w = wire(Codec::Compact, "/");
        let err = w
            .encode(Outgoing::Ack {
                id: 1,
                payload: RawPayload::empty(Codec::Json),
            })
            .unwrap_err();
        assert!(matches!(err, Error::CodecMismatch { .. }));
    }
}
