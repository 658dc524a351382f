//! [`Query`]: the decoded query of the request that opened a connection, kept compactly for
//! its whole life (one block, [`Pairs`], shared by every clone).

use super::pairs::Pairs;

/// The decoded query parameters of the request that opened a connection, in the request's
/// order (a name given twice is kept twice).
///
/// ```
/// # fn show(query: &tickwire::engine::Query) {
/// let room = query.get("room").unwrap_or("lobby");
/// for (name, value) in query.iter() {
///     println!("{name} = {value}");
/// }
/// # let _ = room;
/// # }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Query(Pairs);

impl Query {
    /// The query of `pairs`, decoded already.
    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> Query {
        Query(Pairs::new(|| {
            pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))
        }))
    }

    /// Every parameter as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        // Both come from `String`s: UTF-8.
        let text = |bytes| std::str::from_utf8(bytes).unwrap_or_default();
        self.0
            .iter()
            .map(move |(name, value)| (text(name), text(value)))
    }

    /// The first value of the parameter `name` (names are compared exactly).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| value)
    }

    /// How many parameters (a name given twice counts twice).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameters as owned pairs.
    pub fn to_vec(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }
}

impl std::fmt::Debug for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_parameter_in_order() {
        let pairs = [("EIO", "4"), ("room", "a b"), ("EIO", "3"), ("é", "")]
            .map(|(n, v)| (n.to_owned(), v.to_owned()));
        let query = Query::from_pairs(&pairs);
        assert_eq!(query.len(), 4);
        assert_eq!(query.get("EIO"), Some("4"), "the first of two");
        assert_eq!(query.get("room"), Some("a b"));
        assert_eq!(query.get("é"), Some(""));
        assert_eq!(query.get("eio"), None, "exact names");
        assert_eq!(query.to_vec(), pairs);
        assert_eq!(
            format!("{query:?}"),
            r#"[("EIO", "4"), ("room", "a b"), ("EIO", "3"), ("é", "")]"#
        );
    }

    #[test]
    fn empty_query() {
        let query = Query::default();
        assert!(query.is_empty());
        assert_eq!(query.get("EIO"), None);
        assert_eq!(query, Query::from_pairs(&[]));
    }
}
