//! [`Headers`]: the HTTP headers a connection was opened with, kept compactly for its whole
//! life.
//!
//! A session keeps its handshake's headers (middleware and `fetch_sockets` read them), so
//! their form is paid once per connection: one block holding every name and value, and
//! the offsets that split it ([`Pairs`]), shared by every clone. actix's `HeaderMap` (a
//! hash table with room for four values per name) costs several times that for the
//! handful of headers a client sends.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use super::pairs::Pairs;

/// The HTTP headers of the request that opened a connection. Names are lower case; lookups
/// ignore case; the values of one name keep the request's order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Pairs);

impl Headers {
    /// The headers of `map` for which `keep` holds.
    pub(crate) fn from_map(map: &HeaderMap, keep: impl Fn(&HeaderName) -> bool) -> Headers {
        // `HeaderName`s are lower case already.
        Headers(Pairs::new(|| {
            map.iter()
                .filter(|(name, _)| keep(name))
                .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()))
        }))
    }

    /// Every header as `(name, value)` (a name sent twice appears twice, its values in
    /// order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.0
            .iter()
            // Names come from `HeaderName`s: ASCII.
            .map(|(name, value)| (std::str::from_utf8(name).unwrap_or_default(), value))
    }

    /// Every value of the header `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first value of the header `name`, as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The first value of the header `name`, when it is text (visible ASCII, as HTTP
    /// allows; `None` for other bytes).
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = self.get_bytes(name)?;
        value
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
            .then(|| std::str::from_utf8(value).ok())
            .flatten()
    }

    /// Whether the request had a header `name`.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// How many headers (a name sent twice counts twice).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The headers as an actix `HeaderMap`.
    pub fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len());
        for (name, value) in self.iter() {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value),
            ) {
                map.append(name, value);
            }
        }
        map
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(name, value)| (name, String::from_utf8_lossy(value))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(headers: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn keeps_every_value_in_order_and_looks_up_ignoring_case() {
        let source = map(&[
            ("Host", b"example.test"),
            ("Cookie", b"a=1"),
            ("cookie", b"b=2"),
            ("Upgrade", b"websocket"),
            ("X-Bytes", b"caf\xc3\xa9"),
        ]);
        let headers = Headers::from_map(&source, |name| name != "upgrade");
        assert_eq!(headers.len(), 4);
        assert_eq!(headers.get("HOST"), Some("example.test"));
        let cookies: Vec<&[u8]> = headers.get_all("cookie").collect();
        assert_eq!(cookies, [&b"a=1"[..], b"b=2"]);
        assert!(!headers.contains_key("upgrade"));
        assert_eq!(headers.get("x-bytes"), None, "not visible ASCII");
        assert_eq!(headers.get_bytes("x-bytes"), Some(&b"caf\xc3\xa9"[..]));
        let names: Vec<&str> = headers.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 4);
        assert!(names
            .iter()
            .all(|n| n.chars().all(|c| !c.is_ascii_uppercase())));
        let back = headers.to_header_map();
        assert_eq!(back.get_all("cookie").count(), 2);
        assert_eq!(back.len(), 4);
    }

    #[test]
    fn empty_headers() {
        let headers = Headers::from_map(&HeaderMap::new(), |_| true);
        assert!(headers.is_empty());
        assert_eq!(headers.iter().count(), 0);
        assert_eq!(headers.get("host"), None);
        assert_eq!(format!("{headers:?}"), "{}");
    }
}
