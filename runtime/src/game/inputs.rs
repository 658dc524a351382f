//! A player's inputs: queued between ticks (the newest `input_queue` of them), then applied in
//! sequence order with duplicates and stale retries skipped.

use std::collections::VecDeque;

/// The inputs of `batch` to apply, in sequence order, skipping duplicates and sequences at
/// or below `last` (already applied); `last` advances to the newest applied.
pub(super) fn new_inputs_in_order<I>(
    mut batch: Vec<(u32, I)>,
    last: &mut Option<u32>,
) -> Vec<(u32, I)> {
    batch.sort_by_key(|(seq, _)| *seq);
    let mut out = Vec::with_capacity(batch.len());
    for (seq, input) in batch {
        if last.is_some_and(|l| seq <= l) {
            continue;
        }
        *last = Some(seq);
        out.push((seq, input));
    }
    out
}

/// A player's inputs waiting for the next tick: the newest `cap`.
pub(super) struct InputQueue<I> {
    pub(super) items: VecDeque<(u32, I)>,
    cap: usize,
    pub(super) dropped: u64,
}

impl<I> InputQueue<I> {
    /// An empty queue holding at most `cap` inputs.
    pub(super) fn new(cap: usize) -> InputQueue<I> {
        InputQueue {
            items: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    pub(super) fn push(&mut self, seq: u32, input: I) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back((seq, input));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_apply_in_sequence_order_without_duplicates_or_stale_ones() {
        let mut last = None;
        let first = new_inputs_in_order(vec![(3, 'c'), (1, 'a'), (2, 'b'), (2, 'B')], &mut last);
        assert_eq!(first, vec![(1, 'a'), (2, 'b'), (3, 'c')]);
        assert_eq!(last, Some(3));
        // A retry of 3 and a late 2 are ignored; 4 and 6 apply (gaps are fine).
        let second = new_inputs_in_order(vec![(6, 'f'), (3, 'c'), (2, 'b'), (4, 'd')], &mut last);
        assert_eq!(second, vec![(4, 'd'), (6, 'f')]);
        assert_eq!(last, Some(6));
        assert!(new_inputs_in_order(Vec::<(u32, char)>::new(), &mut last).is_empty());
    }

    #[test]
    fn input_queue_keeps_the_newest() {
        let mut q = InputQueue::new(3);
        for seq in 1..=5 {
            q.push(seq, ());
        }
        let seqs: Vec<u32> = q.items.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(q.dropped, 2);
    }
}
