//! Socket.IO v5: packets multiplexed over one Engine.IO session.
//!
//! A packet's text form is `<type>[<attachments>-][<nsp>,][<ack id>][<JSON>]`; binary
//! attachments follow as separate Engine.IO binary messages, and the JSON holds
//! `{"_placeholder":true,"num":N}` where each one was. [`decode_text`] and [`Reassembler`]
//! read packets; [`encode`] writes them.

mod attachments;
mod error;
mod packet;

pub use attachments::{count_placeholders, placeholder, Reassembler};
pub use error::DecodeError;
pub use packet::{
    decode_text, encode, encode_into, DecodeConfig, Packet, PacketKind, RESERVED_EVENTS,
};
