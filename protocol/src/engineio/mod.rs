//! Engine.IO v4: the transport layer under Socket.IO.
//!
//! - [`Packet`]: the seven packet types and their text / binary forms on a websocket.
//! - [`payload`]: HTTP long-polling bodies (`\x1e`-separated, binary as `b` + base64).
//! - [`handshake`]: request query validation, error codes and the open packet.
//! - [`Session`]: the per-session state machine (heartbeat, upgrade, close).

mod error;
pub mod handshake;
mod packet;
pub mod payload;
mod session;

pub use error::{DecodeError, RequestError};
pub use handshake::{HandshakeQuery, OpenPacket, TransportKind};
pub use packet::{Packet, PacketType};
pub use session::{CloseReason, Config, Event, Session, SessionError};
