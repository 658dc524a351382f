#![doc = include_str!("../../docs/compact-codec.md")]

mod codec;
mod error;
mod packet;
mod payload;
mod varint;

pub use codec::{decode, encode, encode_into, Limits, VERSION};
pub use error::{CompactError, Field, PayloadError};
pub use packet::{CompactKind, CompactPacket, EventName};
pub use payload::{from_payload, take_from_payload, to_payload};
