//! The match's last snapshots by tick: the newest one, which a rejoining player gets at once,
//! and the older ones delta snapshots are computed against. Bounded.

use std::collections::VecDeque;

/// The last `cap` snapshots, oldest first, with their ticks (increasing).
pub(super) struct History<S> {
    entries: VecDeque<(u64, S)>,
    cap: usize,
}

impl<S> History<S> {
    /// A history of at most `cap` snapshots (at least one: the newest).
    pub(super) fn new(cap: usize) -> History<S> {
        let cap = cap.max(1);
        History {
            entries: VecDeque::with_capacity(cap.min(64)),
            cap,
        }
    }

    /// Keep the snapshot of `tick`, newer than every kept one, forgetting the oldest beyond
    /// the bound.
    pub(super) fn push(&mut self, tick: u64, snapshot: S) {
        if self.entries.back().is_some_and(|(last, _)| *last >= tick) {
            // Ticks only increase; a repeat replaces nothing older.
            self.entries.clear();
        }
        if self.entries.len() == self.cap {
            self.entries.pop_front();
        }
        self.entries.push_back((tick, snapshot));
    }

    /// The newest snapshot and its tick.
    pub(super) fn newest(&self) -> Option<(u64, &S)> {
        self.entries.back().map(|(tick, s)| (*tick, s))
    }

    /// The snapshot of `tick`, if it is still kept.
    pub(super) fn get(&self, tick: u64) -> Option<&S> {
        let at = self.entries.binary_search_by_key(&tick, |(t, _)| *t).ok()?;
        self.entries.get(at).map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_snapshots_are_kept_by_tick_and_bounded() {
        let mut history = History::new(3);
        assert!(history.newest().is_none());
        for tick in [1, 2, 4, 7] {
            history.push(tick, tick * 10);
        }
        assert_eq!(history.newest(), Some((7, &70)));
        assert_eq!(history.get(4), Some(&40));
        assert_eq!(history.get(1), None, "forgotten beyond the bound");
        assert_eq!(history.get(3), None, "a skipped slot");
        assert_eq!(history.get(u64::MAX), None);
        let mut newest_only = History::new(0);
        newest_only.push(1, 'a');
        newest_only.push(2, 'b');
        assert_eq!(
            (newest_only.newest(), newest_only.get(1)),
            (Some((2, &'b')), None)
        );
    }
}
