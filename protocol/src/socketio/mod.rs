//! Socket.IO v5: packets multiplexed over one Engine.IO session.
//!
//! A packet's text form is `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`; binary
//! attachments follow as separate Engine.IO binary messages, and the JSON holds
//! `{"_placeholder":true,"num":N}` where each one was. [`decode_text`] and [`Reassembler`]
//! read packets, [`decode_lazy`] reads a plain event or ack leaving its arguments as text;
//! [`encode`] writes them.

mod attachments;
mod error;
mod lazy;
mod packet;

pub use attachments::{count_placeholders, placeholder, Reassembler};
pub use error::DecodeError;
pub use lazy::{decode_lazy, LazyPacket};
pub use packet::{
    decode_text, encode, encode_into, DecodeConfig, Packet, PacketKind, RESERVED_EVENTS,
};
