//! The compact codec's glue to the runtime (frames from typed values).

use serde::Serialize;

use crate::error::SendError;
use crate::outbox::Frame;

/// Encode an event for a compact-codec connection.
pub(crate) fn encode_event<T: Serialize + ?Sized>(
    _nsp: &str,
    _event: &str,
    _data: &T,
    _id: Option<u64>,
) -> Result<Frame, SendError> {
    Err(SendError::Serialize("compact codec not wired yet".into()))
}
