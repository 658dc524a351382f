//! Connection state recovery, as the official Socket.IO JS client does it.
//!
//! When the server has recovery on, its CONNECT reply carries a private session id (`pid`)
//! and each broadcast carries an offset as its last argument. The client keeps the `pid` and
//! the last string argument of each event it received (its `_pid` and `_lastOffset`), and
//! sends `{"pid", "offset"}` merged into its auth when it reconnects (the auth's own keys
//! win, as with `Object.assign({pid, offset}, auth)`; no offset yet means no `offset` key).
//! The server then gives the socket its id, rooms and the broadcasts it missed back, and
//! the connection is a recovery when the reply carries the same `pid` again.
//!
//! As in the JS client, the offset is not removed from the event's arguments: a handler of
//! a broadcast sees it as one more, last, argument (a typed handler that reads one value
//! reads the arguments as an array then; read them as a tuple, or use a raw handler).
//!
//! JSON codec only: compact broadcasts carry no offsets, so a compact client never claims
//! a session.

use serde_json::{Map, Value};

use super::RawPayload;

/// What the client keeps to claim its session back.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    pid: Option<String>,
    offset: Option<String>,
}

impl Recovery {
    /// The auth to send with the next CONNECT: `auth` with the session claim merged in,
    /// once the server gave a pid.
    pub(crate) fn auth(&self, auth: Option<&Value>) -> Option<Value> {
        let Some(pid) = &self.pid else {
            return auth.cloned();
        };
        let mut claim = Map::new();
        claim.insert("pid".into(), Value::String(pid.clone()));
        if let Some(offset) = &self.offset {
            claim.insert("offset".into(), Value::String(offset.clone()));
        }
        if let Some(Value::Object(auth)) = auth {
            claim.extend(auth.clone());
        }
        Some(Value::Object(claim))
    }

    /// The namespace accepted a connection whose reply carried `pid`: returns whether it
    /// recovered the previous session (the same pid again).
    pub(crate) fn connected(&mut self, pid: Option<String>) -> bool {
        let recovered = pid.is_some() && pid == self.pid;
        self.pid = pid;
        recovered
    }

    /// An event arrived: its last argument, when a string, is the offset to claim from
    /// (only while the server gives a pid).
    pub(crate) fn event(&mut self, payload: &RawPayload) {
        if self.pid.is_none() {
            return;
        }
        if let RawPayload::Json(payload) = payload {
            if let Some(Value::String(offset)) = payload.args().last() {
                self.offset = Some(offset.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tickwire_protocol::Payload;

    fn event(args: Vec<Value>) -> RawPayload {
        RawPayload::Json(Payload::from_parts(args, Vec::new()))
    }

    #[test]
    fn mirrors_the_js_client() {
        let mut r = Recovery::default();
        let auth = json!({"token": "t"});
        // No pid yet: the auth as it is, and offsets are not tracked.
        assert_eq!(r.auth(Some(&auth)), Some(auth.clone()));
        r.event(&event(vec![json!("x"), json!("1")]));
        assert!(!r.connected(Some("p1".into())));
        assert_eq!(r.auth(None), Some(json!({"pid": "p1"})));
        r.event(&event(vec![json!("x"), json!("7")]));
        r.event(&event(vec![json!("no offset"), json!(3)]));
        assert_eq!(
            r.auth(Some(&auth)),
            Some(json!({"pid": "p1", "offset": "7", "token": "t"}))
        );
        // The auth's own keys win.
        assert_eq!(
            r.auth(Some(&json!({"offset": "mine"}))),
            Some(json!({"pid": "p1", "offset": "mine"}))
        );
        assert!(r.connected(Some("p1".into())));
        assert!(!r.connected(Some("p2".into())));
        // A server without recovery: no claim any more.
        assert!(!r.connected(None));
        assert_eq!(r.auth(None), None);
        r.event(&RawPayload::Compact(bytes::Bytes::new()));
    }
}
