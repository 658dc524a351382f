//! Which wire encoding a connection speaks: Socket.IO JSON or tickwire's compact codec.
//!
//! A client chooses at the Engine.IO handshake with the query parameter `codec`
//! (`codec=json`, the default, or `codec=compact`), for the whole connection.

/// The wire encoding of a connection's Socket.IO packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    /// Socket.IO JSON, the parser of every Socket.IO client.
    #[default]
    Json,
    /// tickwire's compact binary codec (one binary frame per packet, postcard payload).
    Compact,
}

impl Codec {
    /// The codec a handshake query asks for: absent or `json` → JSON, `compact` → compact.
    pub fn from_query(query: &[(String, String)]) -> Result<Codec, String> {
        match query
            .iter()
            .find(|(k, _)| k == "codec")
            .map(|(_, v)| v.as_str())
        {
            None | Some("json") => Ok(Codec::Json),
            Some("compact") => Ok(Codec::Compact),
            Some(other) => Err(format!(
                "unknown codec {other:?}: use codec=json (default) or codec=compact"
            )),
        }
    }

    /// `0` for JSON, `1` for compact: an index for per-codec tables.
    pub fn index(self) -> usize {
        match self {
            Codec::Json => 0,
            Codec::Compact => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_query() {
        let q = |v: &str| vec![("codec".to_owned(), v.to_owned())];
        assert_eq!(Codec::from_query(&[]), Ok(Codec::Json));
        assert_eq!(Codec::from_query(&q("json")), Ok(Codec::Json));
        assert_eq!(Codec::from_query(&q("compact")), Ok(Codec::Compact));
        assert!(Codec::from_query(&q("msgpack")).is_err());
    }
}
