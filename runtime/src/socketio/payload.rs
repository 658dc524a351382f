//! Typed extraction of event payloads for handlers: [`Data`] and [`FromPayload`].

use serde::de::DeserializeOwned;

pub use tickwire_protocol::Payload;

/// What an event handler's second parameter can be: [`Data`] for a typed payload, or
/// [`Payload`] for the raw arguments and attachments.
pub trait FromPayload: Sized {
    /// Build from the event's payload; an error skips the handler (logged).
    fn from_payload(payload: Payload) -> Result<Self, String>;
}

impl FromPayload for Payload {
    fn from_payload(payload: Payload) -> Result<Self, String> {
        Ok(payload)
    }
}

/// A typed event payload: the single argument, or all arguments as a tuple or sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Data<T>(pub T);

impl<T: DeserializeOwned + 'static> FromPayload for Data<T> {
    fn from_payload(payload: Payload) -> Result<Self, String> {
        payload.into_deserialize().map(Data)
    }
}
