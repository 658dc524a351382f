//! The websocket URL of a Socket.IO server's Engine.IO endpoint.

use std::fmt::Write as _;

use super::Error;
use tickwire_protocol::Codec;

/// The websocket URL for a direct websocket session:
/// `ws://<host>/<path>/?EIO=4&transport=websocket[&codec=compact][&<url query>][&<query>]`.
///
/// `base` is `http://host[:port]` or `ws://host[:port]`, optionally with a query string and
/// a trailing `/`; any other path is refused (the endpoint path is `path`, the namespace is
/// chosen separately, unlike the JS client's `io("http://host/namespace")`).
pub(crate) fn websocket_url(
    base: &str,
    path: &str,
    codec: Codec,
    query: &[(String, String)],
) -> Result<String, Error> {
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| Error::InvalidUrl(format!("{base:?} has no scheme (ws:// or http://)")))?;
    match scheme.to_ascii_lowercase().as_str() {
        "ws" | "http" => {}
        "wss" | "https" => {
            return Err(Error::Unsupported(
                "TLS (https:// or wss://) is not built into the client: terminate TLS in front \
                 of the server or connect over ws:// inside the trusted network"
                    .into(),
            ))
        }
        other => {
            return Err(Error::InvalidUrl(format!(
                "scheme {other:?}: use ws:// or http://"
            )))
        }
    }
    let rest = rest.split('#').next().unwrap_or_default();
    let (location, url_query) = match rest.split_once('?') {
        Some((location, q)) => (location, q),
        None => (rest, ""),
    };
    let (authority, url_path) = match location.find('/') {
        Some(i) => location.split_at(i),
        None => (location, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::InvalidUrl(format!(
            "{base:?} must name a host (and no credentials)"
        )));
    }
    if !url_path.is_empty() && url_path != "/" {
        return Err(Error::InvalidUrl(format!(
            "{base:?} has the path {url_path:?}: set the endpoint with `path(..)` and the \
             namespace with `namespace(..)`"
        )));
    }
    let path = path.trim_matches('/');
    let mut url = format!("ws://{authority}/");
    if !path.is_empty() {
        url.push_str(path);
        url.push('/');
    }
    url.push_str("?EIO=4&transport=websocket");
    if codec == Codec::Compact {
        url.push_str("&codec=compact");
    }
    for pair in url_query.split('&').filter(|p| !p.is_empty()) {
        url.push('&');
        url.push_str(pair);
    }
    for (key, value) in query {
        url.push('&');
        encode_component(&mut url, key);
        url.push('=');
        encode_component(&mut url, value);
    }
    Ok(url)
}

/// Percent-encode everything but RFC 3986's unreserved characters.
fn encode_component(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base: &str, codec: Codec, query: &[(&str, &str)]) -> Result<String, Error> {
        let query: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        websocket_url(base, "/socket.io", codec, &query)
    }

    #[test]
    fn builds_the_engineio_websocket_url() {
        assert_eq!(
            url("http://127.0.0.1:3000", Codec::Json, &[]).unwrap(),
            "ws://127.0.0.1:3000/socket.io/?EIO=4&transport=websocket"
        );
        assert_eq!(
            url("ws://h/?room=1", Codec::Compact, &[("name", "a b&c")]).unwrap(),
            "ws://h/socket.io/?EIO=4&transport=websocket&codec=compact&room=1&name=a%20b%26c"
        );
        assert_eq!(
            websocket_url("ws://h", "/", Codec::Json, &[]).unwrap(),
            "ws://h/?EIO=4&transport=websocket"
        );
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        assert!(matches!(
            url("https://h", Codec::Json, &[]),
            Err(Error::Unsupported(_))
        ));
        for bad in ["h:3000", "ftp://h", "ws://", "ws://h/chat", "ws://u:p@h"] {
            assert!(
                matches!(url(bad, Codec::Json, &[]), Err(Error::InvalidUrl(_))),
                "{bad}"
            );
        }
    }
}
