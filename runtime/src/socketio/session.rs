//! [`SioSession`]: the Socket.IO side of one Engine.IO session: namespaces joined, binary
//! reassembly, dispatch to sockets. The engine's [`SessionHandler`] for Socket.IO.
//!
//! Plain state driven by the connection actor; it never touches the transport. It sees the
//! engine only as messages in, frames queued through its [`ConnHandle`], and the upcalls
//! it sends itself ([`ToSession`]).

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use serde_json::Value;
use tickwire_protocol::socketio::{decode_lazy, DecodeConfig, Packet, PacketKind, Reassembler};

use super::admission::{self, Admit, NotEntered};
use super::by_name::ByName;
use super::codec::encode_control;
use super::compact::Inbound;
use super::disconnect::DisconnectReason;
use super::error::ConnectError;
use super::handshake::Handshake;
use super::payload::Payload;
use super::registry::Namespaces;
use super::socket::Socket;
use crate::engine::{
    AfterUpcall, Class, CloseCause, Codec, ConnHandle, Frame, LocalFuture, ProtocolViolation,
    SessionHandler,
};

/// What the Socket.IO layer tells a session from elsewhere (a namespace's admission actor,
/// server code on another thread), delivered on the session's thread.
pub(crate) enum ToSession {
    /// A namespace admitted this socket.
    Admitted(Socket),
    /// A namespace refused the connection.
    Refused { nsp: String, error: ConnectError },
    /// Server code disconnected the socket of this namespace (it already tore itself down).
    SocketGone(String),
    /// Server code closes the whole connection: every namespace is told.
    CloseAll,
}

fn violation(e: impl std::fmt::Display) -> ProtocolViolation {
    ProtocolViolation(e.to_string())
}

pub(crate) struct SioSession {
    namespaces: Arc<Namespaces>,
    conn: ConnHandle,
    /// The connection's handshake with auth `{}`: the one a CONNECT without auth shares.
    base: Arc<Handshake>,
    /// The connection's sockets by namespace.
    sockets: ByName<Socket>,
    /// Namespaces being admitted.
    pending: ByName<()>,
    reassembler: Reassembler,
}

impl SioSession {
    pub(crate) fn new(
        namespaces: Arc<Namespaces>,
        conn: ConnHandle,
        base: Handshake,
    ) -> SioSession {
        let reassembler = Reassembler::new(DecodeConfig {
            max_attachments: namespaces.config.max_attachments,
        });
        SioSession {
            namespaces,
            conn,
            base: Arc::new(base),
            sockets: ByName::default(),
            pending: ByName::default(),
            reassembler,
        }
    }

    fn on_text(&mut self, text: ByteString) -> Result<Option<LocalFuture>, ProtocolViolation> {
        if self.conn.codec == Codec::Compact {
            return Err(ProtocolViolation(
                "text message on a compact-codec connection".into(),
            ));
        }
        if !self.reassembler.is_pending() {
            if let Some(packet) = decode_lazy(&text, self.reassembler.config()) {
                return self.on_event_or_ack(packet.nsp, packet.event, packet.id, packet.payload);
            }
        }
        match self.reassembler.feed_text(&text).map_err(violation)? {
            Some(packet) => self.on_packet(packet),
            None => Ok(None),
        }
    }

    fn on_binary(&mut self, bytes: Bytes) -> Result<Option<LocalFuture>, ProtocolViolation> {
        if self.conn.codec == Codec::Compact {
            return self.on_compact(bytes);
        }
        match self.reassembler.feed_binary(bytes).map_err(violation)? {
            Some(packet) => self.on_packet(packet),
            None => Ok(None),
        }
    }

    fn on_compact(&mut self, bytes: Bytes) -> Result<Option<LocalFuture>, ProtocolViolation> {
        let max = self.namespaces.config.engine.max_payload;
        let packet = match super::compact::decode(bytes, max).map_err(ProtocolViolation)? {
            Inbound::Connect { nsp, auth } => Packet::connect(nsp, auth),
            Inbound::Disconnect { nsp } => Packet::disconnect(nsp),
            Inbound::Event {
                nsp,
                event,
                id,
                payload,
            } => {
                let Some(socket) = self.sockets.get(&nsp).cloned() else {
                    return Err(ProtocolViolation(format!("event for {nsp} before CONNECT")));
                };
                return Ok(socket.dispatch_event(&event, Payload::from_compact(payload), id));
            }
            Inbound::Ack { nsp, id, payload } => {
                if let Some(socket) = self.sockets.get(&nsp) {
                    socket.resolve_ack(id, Payload::from_compact(payload));
                }
                return Ok(None);
            }
        };
        self.on_packet(packet)
    }

    fn on_packet(&mut self, packet: Packet) -> Result<Option<LocalFuture>, ProtocolViolation> {
        let socket = self.sockets.get(&packet.nsp).cloned();
        match (packet.kind, socket) {
            (PacketKind::Connect, None) => {
                self.connect(packet);
                Ok(None)
            }
            (PacketKind::Disconnect, Some(socket)) => {
                self.sockets.remove(&packet.nsp);
                socket.close(DisconnectReason::ClientNamespaceDisconnect, false);
                Ok(None)
            }
            (PacketKind::Event | PacketKind::BinaryEvent, Some(_)) => {
                let id = packet.id;
                let Some(Value::Array(mut args)) = packet.data else {
                    return Err(ProtocolViolation("event payload is not an array".into()));
                };
                let name = match args.first() {
                    Some(Value::String(name)) => name.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => return Err(ProtocolViolation("event without a name".into())),
                };
                args.remove(0);
                let payload = Payload::from_parts(args, packet.attachments);
                self.on_event_or_ack(&packet.nsp, Some(name.into()), id, payload)
            }
            (PacketKind::Ack | PacketKind::BinaryAck, Some(_)) => {
                let (nsp, id) = (packet.nsp.clone(), packet.id);
                let (args, attachments) = packet.into_args();
                let payload = Payload::from_parts(args, attachments);
                self.on_event_or_ack(&nsp, None, id, payload)
            }
            (kind, _) => Err(ProtocolViolation(format!(
                "{kind:?} packet for namespace {} in the wrong state",
                packet.nsp
            ))),
        }
    }

    /// An event (with its name) or an ack (without) for the socket of `nsp`. A plain one
    /// comes here straight from its text, before any `Packet` is built.
    fn on_event_or_ack(
        &self,
        nsp: &str,
        event: Option<Cow<'_, str>>,
        id: Option<u64>,
        payload: Payload,
    ) -> Result<Option<LocalFuture>, ProtocolViolation> {
        let Some(socket) = self.sockets.get(nsp) else {
            let kind = if event.is_some() { "event" } else { "ack" };
            return Err(ProtocolViolation(format!(
                "{kind} for namespace {nsp}, which the client has not joined"
            )));
        };
        Ok(match event {
            Some(name) => socket.dispatch_event(&name, payload, id),
            None => {
                if let Some(id) = id {
                    socket.resolve_ack(id, payload);
                }
                None
            }
        })
    }

    fn connect(&mut self, packet: Packet) {
        let nsp = packet.nsp;
        if self.pending.contains(&nsp) {
            return;
        }
        let Some(ns) = self.namespaces.for_connect(&nsp) else {
            self.refuse(&nsp, &ConnectError::new("Invalid namespace"));
            return;
        };
        let handshake = match packet.data {
            None => self.base.clone(),
            Some(Value::Object(auth)) if auth.is_empty() => self.base.clone(),
            Some(auth) => Arc::new(Handshake {
                auth,
                ..Handshake::clone(&self.base)
            }),
        };
        let inline = ns.0.setup.middlewares.read().is_empty()
            && admission::claims_shared_session(&ns, &handshake).is_none();
        if inline {
            // Nothing to wait for: admit here, on the connection's thread.
            let (socket, _) = admission::new_socket(&ns, self.conn.clone(), handshake);
            match admission::enter(&ns, &socket) {
                Ok(()) => self.admitted(socket, false),
                Err(NotEntered::NamespaceGone) => {
                    self.refuse(&nsp, &ConnectError::new("Invalid namespace"));
                }
                Err(NotEntered::ConnectionGone) => {}
            }
            return;
        }
        let admit = Admit {
            conn: self.conn.clone(),
            handshake,
        };
        if ns.actor().try_send(admit).is_err() {
            self.refuse(&nsp, &ConnectError::new("server busy"));
            return;
        }
        self.pending.insert(&nsp, ());
    }

    /// The namespace admitted a socket: it goes live (CONNECT reply, then what its connect
    /// handler emitted).
    fn admitted(&mut self, socket: Socket, closing: bool) {
        let nsp = socket.ns().name().to_owned();
        self.pending.remove(&nsp);
        if closing {
            socket.close(DisconnectReason::TransportClose, false);
            return;
        }
        socket.go_live();
        self.sockets.insert(&nsp, socket);
    }

    fn refuse(&mut self, nsp: &str, error: &ConnectError) {
        self.pending.remove(nsp);
        let packet = Packet::connect_error(nsp, &error.message, error.data.clone());
        let frames = encode_control(self.conn.codec, &packet);
        // Over the budget, the client is cut as a slow consumer.
        let _ = self.conn.send(&frames, Class::Control);
    }

    /// The server closes the connection: every socket is told (DISCONNECT per namespace).
    fn disconnect_all(&mut self) {
        for socket in self.sockets.take_all() {
            socket.close(DisconnectReason::ServerNamespaceDisconnect, true);
        }
    }
}

impl SessionHandler for SioSession {
    fn on_message(&mut self, frame: Frame) -> Result<Option<LocalFuture>, ProtocolViolation> {
        match frame {
            Frame::Text(text) => self.on_text(text),
            Frame::Binary(bytes) => self.on_binary(bytes),
        }
    }

    /// The inbound limiter dropped an attachment: the packet it belongs to is dropped whole.
    fn abandon_partial(&mut self) {
        self.reassembler.abandon();
    }

    fn is_established(&self) -> bool {
        !self.sockets.is_empty()
    }

    fn on_upcall(&mut self, message: Box<dyn Any + Send>, closing: bool) -> AfterUpcall {
        let Ok(message) = message.downcast::<ToSession>() else {
            return AfterUpcall::Continue;
        };
        match *message {
            ToSession::Admitted(socket) => self.admitted(socket, closing),
            ToSession::Refused { nsp, error } => self.refuse(&nsp, &error),
            ToSession::SocketGone(nsp) => {
                self.sockets.remove(&nsp);
            }
            ToSession::CloseAll => {
                self.disconnect_all();
                return AfterUpcall::Close(CloseCause::ForcedClose);
            }
        }
        AfterUpcall::Continue
    }

    /// The connection is closing: every socket disconnects with its reason.
    fn on_close(&mut self, cause: CloseCause) {
        let reason = DisconnectReason::from(cause);
        for socket in self.sockets.take_all() {
            socket.close(reason, false);
        }
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// Every connection holds its Socket.IO session, boxed, for its life: up to 128 bytes
    /// it takes the allocator's 128-byte class, past that 160 or more (benches/README, "Idle
    /// memory, byte by byte").
    #[test]
    fn the_session_stays_in_its_size_class() {
        let size = std::mem::size_of::<SioSession>();
        assert!(size <= 128, "a Socket.IO session is {size} bytes");
    }
}
