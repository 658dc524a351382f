//! [`ByName`]: a few values keyed by name, such as a socket's event handlers or a
//! connection's sockets by namespace.
//!
//! Every connection holds some for its whole life, and each holds a handful of names (the
//! events a game registers per socket, the one or two namespaces a client joins): a list
//! searched in order keeps them in one small allocation, where a hash map would add a table
//! of its own to every idle connection, and finds a name among a few as fast. The longest
//! list is bounded by configuration: a connection's namespaces by the server's
//! (`Config::max_dynamic_namespaces` plus the static ones), a socket's events by its code.

/// Up to this many entries a list grows by one at a time (each connection holds its lists
/// for its life); past it, as a `Vec` does.
const EXACT_UP_TO: usize = 8;

/// Values by name, at most one per name, in insertion order.
#[derive(Debug)]
pub(crate) struct ByName<V> {
    entries: Vec<(Box<str>, V)>,
}

impl<V> Default for ByName<V> {
    fn default() -> Self {
        ByName {
            entries: Vec::new(),
        }
    }
}

impl<V> ByName<V> {
    /// Set the value of `name`, replacing the one it had.
    pub(crate) fn insert(&mut self, name: &str, value: V) {
        match self.entries.iter_mut().find(|(n, _)| &**n == name) {
            Some((_, slot)) => *slot = value,
            None => {
                if self.entries.len() < EXACT_UP_TO {
                    // Room for this one alone: a `Vec` would make room for four at once,
                    // and most connections keep one socket, most sockets a few handlers.
                    self.entries.reserve_exact(1);
                }
                self.entries.push((name.into(), value));
            }
        }
    }

    /// Remove the value of `name` and return it, if any.
    pub(crate) fn remove(&mut self, name: &str) -> Option<V> {
        let at = self.entries.iter().position(|(n, _)| &**n == name)?;
        let (_, value) = self.entries.remove(at);
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
        Some(value)
    }

    /// The value of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.entries
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, value)| value)
    }

    /// Whether `name` has a value.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Take every value out, in insertion order.
    pub(crate) fn take_all(&mut self) -> impl Iterator<Item = V> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(_, value)| value)
    }

    /// Remove every value.
    pub(crate) fn clear(&mut self) {
        self.entries = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_name_replaced_removed_and_taken() {
        let mut table = ByName::default();
        table.insert("move", 1);
        table.insert("chat", 2);
        table.insert("move", 3);
        assert_eq!(table.get("move"), Some(&3));
        assert!(table.contains("chat"));
        assert_eq!(table.get("mov"), None);
        assert_eq!(table.remove("move"), Some(3));
        assert_eq!(table.remove("move"), None);
        assert_eq!(table.get("chat"), Some(&2));
        table.insert("fire", 4);
        assert_eq!(table.take_all().collect::<Vec<_>>(), [2, 4]);
        assert!(table.is_empty());
        table.insert("x", 5);
        table.clear();
        assert!(table.is_empty());
    }
}
