//! [`HandlerTable`]: a socket's event handlers by event name.
//!
//! Every socket has one, for its whole life, and a game registers a handful of events per
//! socket: a list searched in order holds them in a single small allocation, where a hash
//! map would add a table of its own to every idle connection, and finds a name among a few
//! as fast.

/// Handlers by event name, at most one per name.
#[derive(Debug)]
pub(crate) struct HandlerTable<H> {
    entries: Vec<(Box<str>, H)>,
}

impl<H> Default for HandlerTable<H> {
    fn default() -> Self {
        HandlerTable {
            entries: Vec::new(),
        }
    }
}

impl<H> HandlerTable<H> {
    /// Set the handler of `event`, replacing the one it had.
    pub(crate) fn insert(&mut self, event: &str, handler: H) {
        match self.entries.iter_mut().find(|(name, _)| &**name == event) {
            Some((_, slot)) => *slot = handler,
            None => self.entries.push((event.into(), handler)),
        }
    }

    /// Remove the handler of `event`, if any.
    pub(crate) fn remove(&mut self, event: &str) {
        self.entries.retain(|(name, _)| &**name != event);
    }

    /// The handler of `event`.
    pub(crate) fn get(&self, event: &str) -> Option<&H> {
        self.entries
            .iter()
            .find(|(name, _)| &**name == event)
            .map(|(_, handler)| handler)
    }

    /// Remove every handler.
    pub(crate) fn clear(&mut self) {
        self.entries = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_handler_per_name_replaced_and_removed() {
        let mut table = HandlerTable::default();
        table.insert("move", 1);
        table.insert("chat", 2);
        table.insert("move", 3);
        assert_eq!(table.get("move"), Some(&3));
        assert_eq!(table.get("chat"), Some(&2));
        assert_eq!(table.get("mov"), None);
        table.remove("move");
        assert_eq!(table.get("move"), None);
        assert_eq!(table.get("chat"), Some(&2));
        table.clear();
        assert_eq!(table.get("chat"), None);
    }
}
