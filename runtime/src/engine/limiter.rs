//! Inbound limits of one connection: messages and bytes per second (token buckets).
//!
//! A message over the limit is dropped and counted; a connection that keeps sending far
//! over its limit (more dropped messages than its burst, net of what it was allowed) is
//! disconnected with reason `rate limited`. Memory never depends on the sender: a dropped
//! message is gone.

use std::time::Instant;

/// The limits of a server's connections, from its configuration: messages and bytes per
/// second, each with a burst of twice its rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InboundLimits {
    rate: f64,
    byte_rate: f64,
}

impl InboundLimits {
    pub(crate) fn new(messages_per_sec: u32, bytes_per_sec: usize) -> InboundLimits {
        InboundLimits {
            rate: f64::from(messages_per_sec.max(1)),
            byte_rate: bytes_per_sec.max(1) as f64,
        }
    }

    fn burst(&self) -> f64 {
        self.rate * 2.0
    }

    fn byte_burst(&self) -> f64 {
        self.byte_rate * 2.0
    }
}

/// What to do with an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    /// Drop this message (and, for a packet header, the attachments it announces).
    Drop,
    /// Drop this attachment and the rest of its packet: the packet being reassembled is
    /// abandoned.
    DropPacket,
    Disconnect,
}

/// One connection's standing against its [`InboundLimits`]: two token buckets (messages
/// and bytes, refilled continuously at their rates up to their bursts) and strike counts
/// for abuse. The limits stay with the server, so a connection keeps only what changes.
///
/// Every message pays one message token and its bytes, whatever its codec or transport:
/// Socket.IO JSON text, a compact packet (one binary frame), a polling packet. An attachment
/// pays its bytes; one over the budget drops its whole packet. A connection that keeps
/// sending after it was throttled (more dropped than its burst of messages or of bytes, net
/// of what it was allowed since) is disconnected.
#[derive(Debug, Clone)]
pub(crate) struct InboundLimiter {
    /// Message tokens left.
    tokens: f64,
    /// Byte tokens left.
    byte_tokens: f64,
    /// When both buckets were last refilled.
    last: Instant,
    /// Dropped messages, less one per accepted message.
    strikes: f64,
    /// Dropped bytes, less the bytes accepted since.
    byte_strikes: f64,
    /// Attachments of the accepted packet still to come.
    attachments_due: usize,
    /// Attachments of a dropped packet still to drop.
    skip_binary: usize,
}

impl InboundLimiter {
    /// Full buckets at `now`.
    pub(crate) fn new(limits: &InboundLimits, now: Instant) -> InboundLimiter {
        InboundLimiter {
            tokens: limits.burst(),
            byte_tokens: limits.byte_burst(),
            last: now,
            strikes: 0.0,
            byte_strikes: 0.0,
            attachments_due: 0,
            skip_binary: 0,
        }
    }

    /// Refill both buckets for the time since the last refill.
    fn refill(&mut self, limits: &InboundLimits, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * limits.rate).min(limits.burst());
        self.byte_tokens = (self.byte_tokens + elapsed * limits.byte_rate).min(limits.byte_burst());
    }

    /// Judge a Socket.IO JSON text message (its header announces its attachments).
    pub(crate) fn text(&mut self, limits: &InboundLimits, text: &str, now: Instant) -> Verdict {
        let verdict = self.message(limits, text.len(), now);
        let announced = announced_attachments(text);
        match verdict {
            Verdict::Accept => self.attachments_due = announced,
            _ => self.skip_binary = announced,
        }
        verdict
    }

    /// Judge a whole packet that arrived as one binary message (the compact codec).
    pub(crate) fn packet(&mut self, limits: &InboundLimits, len: usize, now: Instant) -> Verdict {
        self.message(limits, len, now)
    }

    /// Judge a binary attachment of a JSON packet.
    pub(crate) fn attachment(
        &mut self,
        limits: &InboundLimits,
        len: usize,
        now: Instant,
    ) -> Verdict {
        if self.skip_binary > 0 {
            self.skip_binary -= 1;
            return Verdict::Drop;
        }
        if self.attachments_due == 0 {
            // Not announced: the Socket.IO layer refuses it as a protocol error.
            return Verdict::Accept;
        }
        self.attachments_due -= 1;
        self.refill(limits, now);
        if take(&mut self.byte_tokens, len as f64) {
            self.byte_strikes = (self.byte_strikes - len as f64).max(0.0);
            return Verdict::Accept;
        }
        self.skip_binary = std::mem::take(&mut self.attachments_due);
        match self.strike(limits, len) {
            Verdict::Disconnect => Verdict::Disconnect,
            _ => Verdict::DropPacket,
        }
    }

    fn message(&mut self, limits: &InboundLimits, len: usize, now: Instant) -> Verdict {
        self.refill(limits, now);
        let ok = take(&mut self.tokens, 1.0) & take(&mut self.byte_tokens, len as f64);
        if ok {
            self.strikes = (self.strikes - 1.0).max(0.0);
            self.byte_strikes = (self.byte_strikes - len as f64).max(0.0);
            return Verdict::Accept;
        }
        self.strike(limits, len)
    }

    fn strike(&mut self, limits: &InboundLimits, len: usize) -> Verdict {
        self.strikes += 1.0;
        self.byte_strikes += len as f64;
        if self.strikes > limits.burst() || self.byte_strikes > limits.byte_burst() {
            Verdict::Disconnect
        } else {
            Verdict::Drop
        }
    }
}

/// Take `n` tokens from a bucket holding `tokens`, if it holds as many.
fn take(tokens: &mut f64, n: f64) -> bool {
    if *tokens >= n {
        *tokens -= n;
        true
    } else {
        false
    }
}

/// The attachment count a Socket.IO binary packet header announces (`52-...`, `63-...`).
fn announced_attachments(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b'5' | b'6') => {
            let digits: &[u8] = &bytes[1..];
            let end = digits
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(digits.len());
            if digits.get(end) == Some(&b'-') {
                std::str::from_utf8(&digits[..end])
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0)
            } else {
                0
            }
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A connection's limiter with the limits it is judged against.
    struct Judge {
        limits: InboundLimits,
        limiter: InboundLimiter,
    }

    impl Judge {
        fn new(messages_per_sec: u32, bytes_per_sec: usize, now: Instant) -> Judge {
            let limits = InboundLimits::new(messages_per_sec, bytes_per_sec);
            Judge {
                limiter: InboundLimiter::new(&limits, now),
                limits,
            }
        }

        fn text(&mut self, text: &str, now: Instant) -> Verdict {
            self.limiter.text(&self.limits, text, now)
        }

        fn packet(&mut self, len: usize, now: Instant) -> Verdict {
            self.limiter.packet(&self.limits, len, now)
        }

        fn attachment(&mut self, len: usize, now: Instant) -> Verdict {
            self.limiter.attachment(&self.limits, len, now)
        }
    }

    #[test]
    fn buckets_refill_at_their_rate_up_to_their_burst() {
        let t0 = Instant::now();
        let mut l = Judge::new(10, 1 << 20, t0);
        for _ in 0..20 {
            assert_eq!(l.packet(1, t0), Verdict::Accept);
        }
        assert_eq!(l.packet(1, t0), Verdict::Drop);
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.packet(1, t1), Verdict::Accept);
        assert_eq!(l.packet(1, t1), Verdict::Drop);
        // A long pause refills only up to the burst.
        let mut l = Judge::new(10, 1 << 20, t0);
        let later = t0 + Duration::from_secs(60);
        let taken = (0..40)
            .filter(|_| l.packet(1, later) == Verdict::Accept)
            .count();
        assert_eq!(taken, 20);
        // Bytes alike: 100 B/s, a burst of 200 B, refilled by an attachment's refill too.
        let mut l = Judge::new(1000, 100, t0);
        assert_eq!(l.packet(200, t0), Verdict::Accept);
        assert_eq!(
            l.text("51-[\"a\",{}]", t0 + Duration::from_secs(1)),
            Verdict::Accept
        );
        assert_eq!(
            l.attachment(89, t0 + Duration::from_secs(1)),
            Verdict::Accept
        );
        assert_eq!(l.packet(1, t0 + Duration::from_secs(1)), Verdict::Drop);
    }

    #[test]
    fn a_flood_is_dropped_then_disconnected() {
        let t0 = Instant::now();
        let mut l = Judge::new(10, 1 << 20, t0);
        let verdicts: Vec<Verdict> = (0..100).map(|_| l.text("42[\"x\"]", t0)).collect();
        assert!(verdicts[..20].iter().all(|v| *v == Verdict::Accept));
        assert_eq!(verdicts[20], Verdict::Drop);
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));
    }

    #[test]
    fn a_steady_client_at_the_limit_is_never_cut() {
        let t0 = Instant::now();
        let mut l = Judge::new(10, 1 << 20, t0);
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(100 * i);
            assert_eq!(l.text("42[\"x\"]", now), Verdict::Accept);
        }
    }

    #[test]
    fn attachments_of_a_dropped_packet_are_dropped_with_it() {
        let t0 = Instant::now();
        let mut l = Judge::new(1, 1 << 20, t0);
        assert_eq!(l.text("42[\"a\"]", t0), Verdict::Accept);
        assert_eq!(l.text("42[\"b\"]", t0), Verdict::Accept);
        assert_eq!(l.text("52-[\"c\",{},{}]", t0), Verdict::Drop);
        assert_eq!(l.attachment(3, t0), Verdict::Drop);
        assert_eq!(l.attachment(3, t0), Verdict::Drop);
        // Nothing announced: left to the Socket.IO layer to refuse.
        assert_eq!(l.attachment(3, t0), Verdict::Accept);
    }

    #[test]
    fn compact_packets_pay_message_and_byte_tokens_like_text() {
        let t0 = Instant::now();
        let mut json = Judge::new(10, 1 << 20, t0);
        let mut compact = Judge::new(10, 1 << 20, t0);
        let json_ok = (0..1000)
            .filter(|_| json.text("42[\"x\",1]", t0) == Verdict::Accept)
            .count();
        let compact_ok = (0..1000)
            .filter(|_| compact.packet(9, t0) == Verdict::Accept)
            .count();
        assert_eq!(json_ok, 20);
        assert_eq!(compact_ok, json_ok);
        // Sustained: both end in a disconnect.
        assert_eq!(compact.packet(9, t0), Verdict::Disconnect);
        // Bytes too: a packet over the byte burst is dropped.
        let mut bytes = Judge::new(1000, 100, t0);
        assert_eq!(bytes.packet(150, t0), Verdict::Accept);
        assert_eq!(bytes.packet(150, t0), Verdict::Drop);
    }

    #[test]
    fn an_attachment_over_the_byte_budget_drops_its_whole_packet() {
        let t0 = Instant::now();
        let mut l = Judge::new(100, 1000, t0);
        assert_eq!(l.text("53-[\"c\",{},{},{}]", t0), Verdict::Accept);
        assert_eq!(l.attachment(1500, t0), Verdict::Accept);
        assert_eq!(l.attachment(1500, t0), Verdict::DropPacket);
        // The third attachment goes with its packet.
        assert_eq!(l.attachment(10, t0), Verdict::Drop);
        // The next packet is judged afresh.
        assert_eq!(l.text("42[\"d\"]", t0), Verdict::Accept);
    }

    #[test]
    fn a_few_huge_messages_over_the_byte_rate_disconnect_as_fast_as_many_small_ones() {
        let t0 = Instant::now();
        // 1 KiB/s: the burst is 2 KiB, and 2 KiB more dropped is abuse.
        let mut l = Judge::new(1000, 1024, t0);
        let verdicts: Vec<Verdict> = (0..6).map(|_| l.packet(1000, t0)).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Accept,
                Verdict::Accept,
                Verdict::Drop,
                Verdict::Drop,
                Verdict::Disconnect,
                Verdict::Disconnect
            ]
        );
    }

    #[test]
    fn attachment_count_parsing() {
        assert_eq!(announced_attachments("52-[\"x\"]"), 2);
        assert_eq!(announced_attachments("613-/a,1[]"), 13);
        assert_eq!(announced_attachments("42[\"x\"]"), 0);
        assert_eq!(announced_attachments("5x"), 0);
    }
}
