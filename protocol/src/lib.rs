//! Sans-IO wire formats and state machines for tickwire.
//!
//! This crate holds everything hard about the Engine.IO v4 and Socket.IO v5 wire protocols,
//! with no I/O, no async runtime and no clock: callers feed bytes and the current time in,
//! and get packets, bytes to send and the next deadline out. The `tickwire` runtime drives
//! it with actix actors; tests drive it with a virtual clock.
//!
//! ```
//! use tickwire_protocol::socketio::{self, PacketKind};
//!
//! // A Socket.IO event with an ack id, as a client sends it inside an Engine.IO message.
//! let packet = socketio::decode_text(r#"2/chat,7["say","hi"]"#, &Default::default()).unwrap();
//! assert_eq!(packet.kind, PacketKind::Event);
//! assert_eq!(packet.nsp, "/chat");
//! assert_eq!(packet.id, Some(7));
//! assert_eq!(packet.event_name(), Some("say"));
//! assert_eq!(socketio::encode(&packet), r#"2/chat,7["say","hi"]"#);
//! ```
//!
//! Layout: [`engineio`] (packets, polling payloads, handshake, per-session state machine),
//! [`socketio`] (packets, JSON encoding, binary attachments) and [`compact`] (the binary
//! codec a client can choose per connection instead of JSON: one frame per packet, postcard
//! payloads, specified byte by byte). The layers meet only through Engine.IO messages.
//! [`Codec`] names the choice between the two, and [`Payload`] is an event's arguments in
//! either.

mod codec;
pub mod compact;
pub mod engineio;
mod payload;
pub mod socketio;

pub use bytes::Bytes;
pub use codec::Codec;
pub use payload::Payload;
