//! The raw Engine.IO echo: every message goes straight back (text stays text, binary stays
//! binary). The upper of the server the Engine.IO protocol suite expects.

use std::time::Duration;

use bytestring::ByteString;
use tickwire_protocol::engineio::Packet;

use super::outbox::{Class, Frame};
use super::upper::{
    CloseCause, LocalFuture, ProtocolViolation, RequestInfo, SessionHandler, Upper,
};
use super::ConnHandle;

/// Opens an [`EchoSession`] per session.
pub(crate) struct Echo;

impl Upper for Echo {
    fn open(&self, conn: ConnHandle, _request: RequestInfo) -> Box<dyn SessionHandler> {
        Box::new(EchoSession { conn })
    }

    fn establish_timeout(&self) -> Option<Duration> {
        None
    }
}

struct EchoSession {
    conn: ConnHandle,
}

impl SessionHandler for EchoSession {
    fn on_message(&mut self, frame: Frame) -> Result<Option<LocalFuture>, ProtocolViolation> {
        let echo = match frame {
            Frame::Text(text) => Frame::Text(ByteString::from(Packet::message_frame(&text))),
            binary @ Frame::Binary(_) => binary,
        };
        // Over the budget the client is cut as a slow consumer.
        let _ = self.conn.send(&[echo], Class::Reliable);
        Ok(None)
    }

    fn on_close(&mut self, _cause: CloseCause) {}
}
