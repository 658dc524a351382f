//! The compact codec's glue: runtime packets to compact frames and back.
//!
//! Compact connections carry one Engine.IO binary message per Socket.IO packet (see the
//! protocol crate's `compact` module for the format). CONNECT and CONNECT_ERROR carry JSON;
//! EVENT and ACK carry the postcard encoding of one typed argument.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tickwire_protocol::compact::{self, CompactKind, CompactPacket, EventName, Limits};
use tickwire_protocol::socketio::{Packet, PacketKind};

use super::error::SendError;
use crate::engine::Frame;

fn frame(packet: &CompactPacket) -> Result<Frame, SendError> {
    compact::encode(packet)
        .map(Frame::Binary)
        .map_err(|e| SendError::Serialize(e.to_string()))
}

fn postcard<T: Serialize + ?Sized>(data: &T) -> Result<Bytes, SendError> {
    compact::to_payload(data).map_err(|e| SendError::Serialize(e.to_string()))
}

/// An event with one typed argument.
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    nsp: &str,
    event: &str,
    data: &T,
    id: Option<u64>,
) -> Result<Frame, SendError> {
    let packet = CompactPacket::event(nsp.to_owned(), event.to_owned(), postcard(data)?, id);
    frame(&packet)
}

/// An event whose argument is already postcard bytes.
pub(crate) fn encode_raw_event(
    nsp: &str,
    event: &str,
    payload: Bytes,
    id: Option<u64>,
) -> Result<Frame, SendError> {
    frame(&CompactPacket::event(
        nsp.to_owned(),
        event.to_owned(),
        payload,
        id,
    ))
}

/// An ack with one typed argument.
pub(crate) fn encode_ack<T: Serialize + ?Sized>(
    nsp: &str,
    id: u64,
    data: &T,
) -> Result<Frame, SendError> {
    frame(&CompactPacket::ack(nsp.to_owned(), id, postcard(data)?))
}

/// An ack whose argument is already postcard bytes.
pub(crate) fn encode_raw_ack(nsp: &str, id: u64, payload: Bytes) -> Result<Frame, SendError> {
    frame(&CompactPacket::ack(nsp.to_owned(), id, payload))
}

/// A control packet (CONNECT reply, DISCONNECT, CONNECT_ERROR) built for the JSON codec.
pub(crate) fn encode_control(packet: &Packet) -> Result<Frame, SendError> {
    let nsp = packet.nsp.clone();
    let compact = match packet.kind {
        PacketKind::Connect => CompactPacket::connect(nsp, packet.data.as_ref()),
        PacketKind::Disconnect => CompactPacket::disconnect(nsp),
        PacketKind::ConnectError => {
            let data = packet.data.as_ref();
            let message = data
                .and_then(|d| d.get("message"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let extra = data.and_then(|d| d.get("data")).cloned();
            CompactPacket::connect_error(nsp, message, extra)
        }
        _ => {
            return Err(SendError::Serialize(
                "JSON arguments cannot travel on the compact codec; emit a typed value".into(),
            ))
        }
    };
    frame(&compact)
}

/// A packet read from a compact connection.
pub(crate) enum Inbound {
    Connect {
        nsp: String,
        auth: Option<Value>,
    },
    Disconnect {
        nsp: String,
    },
    Event {
        nsp: String,
        event: String,
        id: Option<u64>,
        payload: Bytes,
    },
    Ack {
        nsp: String,
        id: u64,
        payload: Bytes,
    },
}

/// Decode one compact frame from a client.
pub(crate) fn decode(bytes: Bytes, max_payload: usize) -> Result<Inbound, String> {
    let limits = Limits {
        max_frame_len: max_payload,
        ..Limits::default()
    };
    let packet = compact::decode(bytes, &limits).map_err(|e| e.to_string())?;
    let nsp = packet.nsp.to_string();
    Ok(match packet.kind {
        CompactKind::Connect => Inbound::Connect {
            auth: packet.json().map_err(|e| e.to_string())?,
            nsp,
        },
        CompactKind::Disconnect => Inbound::Disconnect { nsp },
        CompactKind::Event => Inbound::Event {
            event: match &packet.event {
                Some(EventName::Name(name)) => name.to_string(),
                Some(EventName::Id(id)) => format!("#{id}"),
                None => return Err("event without a name".into()),
            },
            id: packet.id,
            payload: packet.payload,
            nsp,
        },
        CompactKind::Ack => Inbound::Ack {
            id: packet.id.ok_or("ack without an id")?,
            payload: packet.payload,
            nsp,
        },
        CompactKind::ConnectError => return Err("a client cannot send CONNECT_ERROR".into()),
    })
}
