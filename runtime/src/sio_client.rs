//! The Socket.IO side of one connection: namespaces joined, binary reassembly, dispatch.
//!
//! Plain state driven by the connection actor; it never touches the transport. It sees
//! Engine.IO only as text and binary messages in, and frames queued in the outbox.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tickwire_protocol::socketio::{DecodeConfig, DecodeError, Packet, PacketKind, Reassembler};

use crate::actor::connection::ConnHandle;
use crate::actor::namespace::{self, Admit};
use crate::codec::Codec;
use crate::compact::Inbound;
use crate::error::ConnectError;
use crate::outbox::Class;
use crate::payload::Payload;
use crate::server::ServerInner;
use crate::socket::{DisconnectReason, Handshake, Socket};

pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()> + 'static>>;

/// The connection must close: the client broke the protocol.
#[derive(Debug)]
pub(crate) struct ProtocolViolation(pub(crate) String);

impl From<DecodeError> for ProtocolViolation {
    fn from(e: DecodeError) -> Self {
        ProtocolViolation(e.to_string())
    }
}

pub(crate) struct Client {
    server: Arc<ServerInner>,
    conn: ConnHandle,
    base: Handshake,
    sockets: HashMap<String, Socket>,
    pending: HashSet<String>,
    reassembler: Reassembler,
}

impl Client {
    pub(crate) fn new(server: Arc<ServerInner>, conn: ConnHandle, base: Handshake) -> Client {
        let reassembler = Reassembler::new(DecodeConfig {
            max_attachments: server.config.max_attachments,
        });
        Client {
            server,
            conn,
            base,
            sockets: HashMap::new(),
            pending: HashSet::new(),
            reassembler,
        }
    }

    /// Whether any namespace is joined.
    pub(crate) fn has_sockets(&self) -> bool {
        !self.sockets.is_empty()
    }

    pub(crate) fn on_text(&mut self, text: &str) -> Result<Option<LocalFuture>, ProtocolViolation> {
        if self.conn.codec == Codec::Compact {
            return Err(ProtocolViolation(
                "text message on a compact-codec connection".into(),
            ));
        }
        match self.reassembler.feed_text(text)? {
            Some(packet) => self.on_packet(packet),
            None => Ok(None),
        }
    }

    pub(crate) fn on_binary(
        &mut self,
        bytes: Bytes,
    ) -> Result<Option<LocalFuture>, ProtocolViolation> {
        if self.conn.codec == Codec::Compact {
            return self.on_compact(bytes);
        }
        match self.reassembler.feed_binary(bytes)? {
            Some(packet) => self.on_packet(packet),
            None => Ok(None),
        }
    }

    /// The inbound limiter dropped an attachment: the packet it belongs to is dropped whole.
    pub(crate) fn abandon_partial(&mut self) {
        self.reassembler.abandon();
    }

    fn on_compact(&mut self, bytes: Bytes) -> Result<Option<LocalFuture>, ProtocolViolation> {
        let max = self.server.config.engine.max_payload;
        let packet = match crate::compact::decode(bytes, max).map_err(ProtocolViolation)? {
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
            (PacketKind::Event | PacketKind::BinaryEvent, Some(socket)) => {
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
                Ok(socket.dispatch_event(&name, Payload::from_parts(args, packet.attachments), id))
            }
            (PacketKind::Ack | PacketKind::BinaryAck, Some(socket)) => {
                if let Some(id) = packet.id {
                    let (args, attachments) = packet.into_args();
                    socket.resolve_ack(id, Payload::from_parts(args, attachments));
                }
                Ok(None)
            }
            (kind, _) => Err(ProtocolViolation(format!(
                "{kind:?} packet for namespace {} in the wrong state",
                packet.nsp
            ))),
        }
    }

    fn connect(&mut self, packet: Packet) {
        let nsp = packet.nsp;
        if self.pending.contains(&nsp) {
            return;
        }
        let Some(ns) = self.server.namespace_for_connect(&nsp) else {
            self.refuse(&nsp, &ConnectError::new("Invalid namespace"));
            return;
        };
        let mut handshake = self.base.clone();
        handshake.auth = packet
            .data
            .unwrap_or_else(|| Value::Object(Default::default()));
        let handshake = Arc::new(handshake);
        if ns.0.setup.middlewares.read().is_empty() {
            // Nothing to wait for: admit here, on the connection's thread.
            let (socket, _) = namespace::new_socket(&ns, self.conn.clone(), handshake);
            match namespace::enter(&ns, &socket) {
                Ok(()) => self.admitted(socket, false),
                Err(namespace::NotEntered::NamespaceGone) => {
                    self.refuse(&nsp, &ConnectError::new("Invalid namespace"));
                }
                Err(namespace::NotEntered::ConnectionGone) => {}
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
        self.pending.insert(nsp);
    }

    /// The namespace admitted a socket: it goes live (CONNECT reply, then what its connect
    /// handler emitted).
    pub(crate) fn admitted(&mut self, socket: Socket, closing: bool) {
        let nsp = socket.ns().name().to_owned();
        self.pending.remove(&nsp);
        if closing {
            socket.close(DisconnectReason::TransportClose, false);
            return;
        }
        socket.go_live();
        self.sockets.insert(nsp, socket);
    }

    pub(crate) fn refuse(&mut self, nsp: &str, error: &ConnectError) {
        self.pending.remove(nsp);
        let packet = Packet::connect_error(nsp, &error.message, error.data.clone());
        let frames = crate::codec::encode_control(self.conn.codec, &packet);
        // Over the budget, the client is cut as a slow consumer.
        let _ = self.conn.send(&frames, Class::Control);
    }

    /// The server removed the socket of `nsp` (it already tore itself down).
    pub(crate) fn socket_gone(&mut self, nsp: &str) {
        self.sockets.remove(nsp);
    }

    /// The server closes the connection: every socket is told (DISCONNECT per namespace).
    pub(crate) fn disconnect_all(&mut self) {
        for (_, socket) in self.sockets.drain() {
            socket.close(DisconnectReason::ServerNamespaceDisconnect, true);
        }
    }

    /// The connection is closing: every socket disconnects with `reason`.
    pub(crate) fn close(&mut self, reason: DisconnectReason) {
        for (_, socket) in self.sockets.drain() {
            socket.close(reason, false);
        }
    }
}
