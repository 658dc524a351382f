//! Request validation and the open packet.

use serde::Serialize;

use super::RequestError;

/// The transport a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// The Engine.IO parameters of a request's query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeQuery {
    /// The transport of this request.
    pub transport: TransportKind,
    /// The session id, absent on a handshake.
    pub sid: Option<String>,
}

impl HandshakeQuery {
    /// Validate the decoded `(key, value)` pairs of a query string.
    ///
    /// `EIO` must be `4` (code 5 otherwise), `transport` must be `polling` or `websocket`
    /// (code 0 otherwise). Other keys are the application's and are ignored here.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<HandshakeQuery, RequestError> {
        let (mut eio, mut transport, mut sid) = (None, None, None);
        for (key, value) in pairs {
            match key {
                "EIO" => eio = Some(value),
                "transport" => transport = Some(value),
                "sid" => sid = Some(value),
                _ => {}
            }
        }
        let transport = match transport {
            Some("polling") => TransportKind::Polling,
            Some("websocket") => TransportKind::WebSocket,
            _ => return Err(RequestError::TransportUnknown),
        };
        if eio != Some("4") {
            return Err(RequestError::UnsupportedProtocolVersion);
        }
        let sid = match sid {
            Some("") => return Err(RequestError::SessionIdUnknown),
            other => other.map(str::to_owned),
        };
        Ok(HandshakeQuery { transport, sid })
    }
}

/// The handshake JSON of the open packet: exactly these five keys, in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenPacket<'a> {
    /// The new session id.
    pub sid: &'a str,
    /// `["websocket"]` for a polling session, `[]` for a websocket session.
    pub upgrades: &'a [&'a str],
    /// Milliseconds between server pings.
    pub ping_interval: u64,
    /// Milliseconds the server waits for a pong.
    pub ping_timeout: u64,
    /// The largest payload the server accepts, in bytes.
    pub max_payload: u64,
}

impl OpenPacket<'_> {
    /// The upgrades to advertise for a session that starts on `transport`.
    pub fn upgrades_for(transport: TransportKind) -> &'static [&'static str] {
        match transport {
            TransportKind::Polling => &["websocket"],
            TransportKind::WebSocket => &[],
        }
    }

    /// The open packet's text form: `0{...}`.
    pub fn encode(&self) -> String {
        let mut out = String::from("0");
        // Serializing a struct of strings and integers cannot fail.
        out.push_str(&serde_json::to_string(self).unwrap_or_default());
        out
    }
}

/// Make a session id from caller-supplied entropy: URL-safe base64, 20 characters.
pub fn sid_from_entropy(entropy: [u8; 15]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(entropy)
}

/// The character between a node tag and the random part of a tagged session id (unreserved
/// in URLs, and not in the URL-safe base64 alphabet, so the split is unambiguous).
pub const NODE_TAG_SEPARATOR: char = '.';

/// Most characters of a node tag.
pub const MAX_NODE_TAG_LEN: usize = 16;

/// Whether `tag` can name a node in a session id: 1 to [`MAX_NODE_TAG_LEN`] characters of
/// the URL-safe base64 alphabet (`A-Z a-z 0-9 - _`).
pub fn is_node_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_NODE_TAG_LEN
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A node tag from caller-supplied entropy: URL-safe base64, 11 characters.
pub fn node_tag_from_entropy(entropy: [u8; 8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(entropy)
}

/// A session id that names its node: `<tag>.<random>`, the random part as in
/// [`sid_from_entropy`] (120 bits: the tag is public, the rest is what makes the id
/// unguessable). `None` when `tag` is not a node tag ([`is_node_tag`]).
pub fn tagged_sid_from_entropy(tag: &str, entropy: [u8; 15]) -> Option<String> {
    if !is_node_tag(tag) {
        return None;
    }
    let mut sid = String::with_capacity(tag.len() + 21);
    sid.push_str(tag);
    sid.push(NODE_TAG_SEPARATOR);
    sid.push_str(&sid_from_entropy(entropy));
    Some(sid)
}

/// The node tag of a session id made by [`tagged_sid_from_entropy`]; `None` for an
/// untagged id (a single node's) or anything malformed.
pub fn sid_node_tag(sid: &str) -> Option<&str> {
    let (tag, random) = sid.split_once(NODE_TAG_SEPARATOR)?;
    let random_ok = random.len() == 20
        && random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (is_node_tag(tag) && random_ok).then_some(tag)
}

#[cfg(test)]
mod tag_tests {
    use super::*;

    #[test]
    fn a_tagged_sid_names_its_node() {
        let tag = node_tag_from_entropy([7; 8]);
        assert_eq!(tag.len(), 11);
        assert!(is_node_tag(&tag));
        let sid = tagged_sid_from_entropy(&tag, [9; 15]).expect("a valid tag");
        assert_eq!(sid.len(), 32);
        assert_eq!(sid_node_tag(&sid), Some(tag.as_str()));
        assert!(sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }

    #[test]
    fn untagged_and_malformed_sids_name_no_node() {
        // A single node's sid.
        assert_eq!(sid_node_tag(&sid_from_entropy([1; 15])), None);
        for bad in [
            "",
            ".",
            ".AAAAAAAAAAAAAAAAAAAA",
            "node.",
            "node.short",
            "node.AAAAAAAAAAAAAAAAAAAAA",
            "no/de.AAAAAAAAAAAAAAAAAAAA",
            "node.AAAAAAAAAAAAAAAAAA.A",
            "nodenodenodenodenode.AAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(sid_node_tag(bad), None, "{bad:?}");
        }
        assert_eq!(sid_node_tag("n-1_x.AAAAAAAAAAAAAAAAAAAA"), Some("n-1_x"));
    }

    #[test]
    fn a_bad_tag_makes_no_sid() {
        assert_eq!(tagged_sid_from_entropy("", [0; 15]), None);
        assert_eq!(tagged_sid_from_entropy("a.b", [0; 15]), None);
        assert_eq!(tagged_sid_from_entropy(&"x".repeat(17), [0; 15]), None);
    }
}
