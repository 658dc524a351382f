//! A player's acknowledged tick: the newest tick its client says it applied, the base of its
//! delta snapshots. O(1) per seat; bogus acknowledgements are ignored.
//!
//! The client sends it with its inputs (`[seq, input, tick]`, see
//! [`MatchConfig::input_event`](super::MatchConfig::input_event)). An acknowledgement is kept
//! only when it names a tick that was sent by now (not a future one), not one from before the
//! connection took the seat (an earlier connection's), and a newer one than the kept one
//! (acknowledgements travel with inputs, which may be retried or reordered).

/// The newest tick a seat's client acknowledged, and the range it may name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct TickAck {
    newest: Option<u64>,
    /// The oldest tick the current connection may acknowledge: the one it was resumed from.
    floor: u64,
    /// The newest tick sent so far (`None` before the first).
    ceiling: Option<u64>,
}

impl TickAck {
    /// The client acknowledges `tick`; false (and ignored) when it is not a tick sent by now
    /// to this connection, or not newer than the one kept.
    pub(super) fn offer(&mut self, tick: u64) -> bool {
        let sent = self.ceiling.is_some_and(|ceiling| tick <= ceiling);
        let newer = self.newest.is_none_or(|newest| tick > newest);
        if sent && tick >= self.floor && newer {
            self.newest = Some(tick);
            true
        } else {
            false
        }
    }

    /// The newest tick acknowledged.
    pub(super) fn newest(&self) -> Option<u64> {
        self.newest
    }

    /// Ticks up to `tick` have been (or are being) sent: from now they may be acknowledged.
    pub(super) fn sent(&mut self, tick: u64) {
        self.ceiling = Some(self.ceiling.map_or(tick, |c| c.max(tick)));
    }

    /// A connection takes the seat, resumed from tick `from`: what was acknowledged before is
    /// forgotten (it may be an earlier connection's), and nothing older than `from` counts.
    pub(super) fn resume(&mut self, from: Option<u64>) {
        self.newest = None;
        self.floor = from.unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sent_newer_ticks_of_this_connection_are_kept() {
        let mut ack = TickAck::default();
        assert!(!ack.offer(0), "nothing sent yet");
        ack.sent(10);
        assert!(ack.offer(7));
        assert!(!ack.offer(7), "a duplicate");
        assert!(!ack.offer(3), "an older one");
        assert!(!ack.offer(11), "a future tick");
        assert!(!ack.offer(u64::MAX), "a huge one");
        assert_eq!(ack.newest(), Some(7));
        assert!(ack.offer(10));
        // A huge acknowledgement did not block the later real one.
        assert_eq!(ack.newest(), Some(10));

        // A new connection resumed from tick 12: earlier acknowledgements are forgotten, and
        // ticks before 12 (an earlier connection's, still in flight) do not count.
        ack.sent(14);
        ack.resume(Some(12));
        assert_eq!(ack.newest(), None);
        assert!(!ack.offer(11));
        assert!(ack.offer(12));
        assert!(!ack.offer(15));
        // The ceiling never goes back.
        ack.sent(13);
        assert!(ack.offer(14));
    }
}
