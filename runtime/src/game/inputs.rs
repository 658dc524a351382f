//! A player's inputs: decoded from the input event (`[seq, input]`, or `[seq, input, tick]`
//! with the tick the client acknowledges), queued between ticks (the newest `input_queue` of
//! them), then applied in sequence order with duplicates and stale retries skipped.

use std::collections::VecDeque;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tickwire_protocol::compact::{from_payload, take_from_payload};

use parking_lot::Mutex;

use super::tick_ack::TickAck;
use crate::socketio::Payload;

/// An input event's payload: its sequence number, the game's input, and the tick the client
/// acknowledges, if it sent one.
///
/// JSON: `[seq, input]` or `[seq, input, tick]`; a third element that is not a tick (a
/// string, a negative or fractional number, `null`...) is ignored, the input still counts.
/// Compact: the postcard encoding of `(seq, input)`, optionally followed by the tick as a
/// postcard `u64` (what `(seq, input, tick)` encodes as); bytes after the input that are not
/// exactly one `u64` make the whole input unreadable, as trailing bytes always did.
pub(super) fn decode_input<I: DeserializeOwned + 'static>(
    payload: Payload,
) -> Result<(u32, I, Option<u64>), String> {
    if let Some(bytes) = payload.compact_bytes() {
        let ((seq, input), rest) =
            take_from_payload::<(u32, I)>(bytes).map_err(|e| e.to_string())?;
        if rest.is_empty() {
            return Ok((seq, input, None));
        }
        let tick = from_payload::<u64>(rest).map_err(|e| e.to_string())?;
        return Ok((seq, input, Some(tick)));
    }
    match payload.into_deserialize::<Value>()? {
        Value::Array(mut items) if items.len() == 3 => {
            let tick = items.pop().and_then(|tick| tick.as_u64());
            let (seq, input) =
                serde_json::from_value(Value::Array(items)).map_err(|e| e.to_string())?;
            Ok((seq, input, tick))
        }
        other => serde_json::from_value(other)
            .map(|(seq, input)| (seq, input, None))
            .map_err(|e| e.to_string()),
    }
}

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

/// A player's inputs waiting for the next tick (the newest `cap`), and the tick its client
/// acknowledged with them.
pub(super) struct InputQueue<I> {
    pub(super) items: VecDeque<(u32, I)>,
    cap: usize,
    pub(super) dropped: u64,
    pub(super) ack: TickAck,
}

impl<I> InputQueue<I> {
    /// An empty queue holding at most `cap` inputs.
    pub(super) fn new(cap: usize) -> InputQueue<I> {
        InputQueue {
            items: VecDeque::new(),
            cap: cap.max(1),
            dropped: 0,
            ack: TickAck::default(),
        }
    }

    pub(super) fn push(&mut self, seq: u32, input: I) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
            self.dropped += 1;
        }
        self.items.push_back((seq, input));
    }

    /// A decoded input: queued, and its acknowledged tick offered.
    pub(super) fn push_decoded(&mut self, (seq, input, tick): (u32, I, Option<u64>)) {
        self.push(seq, input);
        if let Some(tick) = tick {
            self.ack.offer(tick);
        }
    }
}

/// One input event's payload for the seat of `queue`: decoded (before taking the lock), then
/// queued. An unreadable payload is skipped: it is the client's, on the network path.
pub(super) fn receive<I: DeserializeOwned + 'static>(
    queue: &Mutex<InputQueue<I>>,
    payload: Payload,
) {
    match decode_input::<I>(payload) {
        Ok(decoded) => queue.lock().push_decoded(decoded),
        Err(e) => tracing::debug!(error = %e, "input did not match the game's type; skipped"),
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

    #[derive(Debug, PartialEq, serde::Deserialize, serde::Serialize)]
    struct Step {
        dx: i64,
    }

    fn json(text: &str) -> Payload {
        Payload::from_parts(vec![serde_json::from_str(text).unwrap()], Vec::new())
    }

    fn compact(value: &impl serde::Serialize) -> Payload {
        Payload::from_compact(tickwire_protocol::compact::to_payload(value).unwrap())
    }

    #[test]
    fn inputs_decode_with_or_without_an_acknowledged_tick() {
        let step = || Step { dx: 2 };
        let read = |p| decode_input::<Step>(p);
        assert_eq!(read(json(r#"[3,{"dx":2}]"#)), Ok((3, step(), None)));
        assert_eq!(read(json(r#"[3,{"dx":2},41]"#)), Ok((3, step(), Some(41))));
        // A third element that is no tick is ignored; the input counts.
        for bogus in [r#""41""#, "-1", "1.5", "null", "{}", "[7]"] {
            let text = format!(r#"[3,{{"dx":2}},{bogus}]"#);
            assert_eq!(read(json(&text)), Ok((3, step(), None)), "{bogus}");
        }
        assert!(read(json(r#"[3]"#)).is_err());
        assert!(read(json(r#"[3,{"dx":2},4,5]"#)).is_err());
        assert!(read(json(r#"["x",{"dx":2}]"#)).is_err());

        assert_eq!(read(compact(&(3u32, step()))), Ok((3, step(), None)));
        assert_eq!(
            read(compact(&(3u32, step(), 41u64))),
            Ok((3, step(), Some(41)))
        );
        assert_eq!(
            read(compact(&(3u32, step(), u64::MAX))),
            Ok((3, step(), Some(u64::MAX)))
        );
        // Trailing bytes that are not one tick: unreadable, as before.
        assert!(read(compact(&(3u32, step(), 41u64, 1u8))).is_err());
        assert!(read(Payload::from_compact(vec![3u8, 4, 0xff])).is_err());
    }

    #[test]
    fn a_queue_keeps_only_acknowledgements_of_ticks_sent() {
        let queue: Mutex<InputQueue<Step>> = Mutex::new(InputQueue::new(4));
        receive(&queue, json(r#"[1,{"dx":1},0]"#));
        assert_eq!(queue.lock().ack.newest(), None, "nothing was sent yet");
        queue.lock().ack.sent(5);
        receive(&queue, json(r#"[2,{"dx":1},4]"#));
        receive(&queue, json(r#"[3,{"dx":1},99]"#));
        receive(&queue, json(r#"[4,{"dx":1},"x"]"#));
        receive(&queue, json(r#"["bad"]"#));
        let q = queue.lock();
        assert_eq!(q.ack.newest(), Some(4));
        let seqs: Vec<u32> = q.items.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4], "every readable input is queued");
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
