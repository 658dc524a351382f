use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::PayloadError;

/// Serialize `value` as a compact payload: its postcard encoding.
///
/// Fails only for what postcard cannot carry (e.g. a sequence of unknown length, or
/// `#[serde(flatten)]` / untagged enums, which need a self-describing format).
pub fn to_payload<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, PayloadError> {
    Ok(Bytes::from(postcard::to_allocvec(value)?))
}

/// Deserialize a compact payload as a `T`, refusing bytes left over after the value.
///
/// postcard checks every length against the bytes left before reading, and preallocates a
/// sequence only when its announced length fits in the bytes left (serde caps any
/// preallocation at 1 MiB besides), so hostile input cannot make it allocate much more than
/// the payload's size.
pub fn from_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, PayloadError> {
    let (value, rest) = take_from_payload(payload)?;
    if !rest.is_empty() {
        return Err(PayloadError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Deserialize a `T` from the front of `bytes`; returns it and the bytes after it (for
/// values written one after another).
pub fn take_from_payload<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), PayloadError> {
    Ok(postcard::take_from_bytes(bytes)?)
}
