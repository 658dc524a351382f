//! Inbound limits of one connection: messages and bytes per second (token buckets).
//!
//! A message over the limit is dropped and counted; a connection that keeps sending far
//! over its limit (more dropped messages than its burst, net of what it was allowed) is
//! disconnected with reason `rate limited`. Memory never depends on the sender: a dropped
//! message is gone.

use std::time::Instant;

/// A token bucket refilled continuously at `rate` per second up to `burst`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub(crate) fn new(rate: f64, burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Take `n` tokens if available.
    pub(crate) fn take(&mut self, n: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= n {
            self.tokens -= n;
            true
        } else {
            false
        }
    }
}

/// What to do with an inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
    Disconnect,
}

/// Messages-per-second and bytes-per-second limits with a strike count for abuse.
#[derive(Debug, Clone)]
pub(crate) struct InboundLimiter {
    messages: TokenBucket,
    bytes: TokenBucket,
    strikes: f64,
    max_strikes: f64,
    /// Attachments of a dropped binary packet still to drop.
    skip_binary: usize,
}

impl InboundLimiter {
    pub(crate) fn new(messages_per_sec: u32, bytes_per_sec: usize, now: Instant) -> InboundLimiter {
        let rate = f64::from(messages_per_sec.max(1));
        let byte_rate = bytes_per_sec.max(1) as f64;
        InboundLimiter {
            messages: TokenBucket::new(rate, rate * 2.0, now),
            bytes: TokenBucket::new(byte_rate, byte_rate * 2.0, now),
            strikes: 0.0,
            max_strikes: rate * 2.0,
            skip_binary: 0,
        }
    }

    /// Judge a text message of `len` bytes.
    pub(crate) fn text(&mut self, text: &str, now: Instant) -> Verdict {
        let ok = self.messages.take(1.0, now) & self.bytes.take(text.len() as f64, now);
        if ok {
            self.strikes = (self.strikes - 1.0).max(0.0);
            return Verdict::Accept;
        }
        self.strikes += 1.0;
        if self.strikes > self.max_strikes {
            return Verdict::Disconnect;
        }
        self.skip_binary = announced_attachments(text);
        Verdict::Drop
    }

    /// Judge a binary message (an attachment): dropped with its packet, never on its own.
    pub(crate) fn binary(&mut self, len: usize, now: Instant) -> Verdict {
        if self.skip_binary > 0 {
            self.skip_binary -= 1;
            return Verdict::Drop;
        }
        if !self.bytes.take(len as f64, now) {
            self.strikes += 1.0;
            if self.strikes > self.max_strikes {
                return Verdict::Disconnect;
            }
        }
        Verdict::Accept
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

    #[test]
    fn bucket_refills_at_rate_up_to_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 20.0, t0);
        for _ in 0..20 {
            assert!(b.take(1.0, t0));
        }
        assert!(!b.take(1.0, t0));
        assert!(b.take(1.0, t0 + Duration::from_millis(100)));
        assert!(!b.take(1.0, t0 + Duration::from_millis(100)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        let taken = (0..100).filter(|_| b.take(1.0, later)).count();
        assert_eq!(taken, 20);
    }

    #[test]
    fn a_flood_is_dropped_then_disconnected() {
        let t0 = Instant::now();
        let mut l = InboundLimiter::new(10, 1 << 20, t0);
        let verdicts: Vec<Verdict> = (0..100).map(|_| l.text("42[\"x\"]", t0)).collect();
        assert!(verdicts[..20].iter().all(|v| *v == Verdict::Accept));
        assert_eq!(verdicts[20], Verdict::Drop);
        assert_eq!(verdicts.last(), Some(&Verdict::Disconnect));
    }

    #[test]
    fn a_steady_client_at_the_limit_is_never_cut() {
        let t0 = Instant::now();
        let mut l = InboundLimiter::new(10, 1 << 20, t0);
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(100 * i);
            assert_eq!(l.text("42[\"x\"]", now), Verdict::Accept);
        }
    }

    #[test]
    fn attachments_of_a_dropped_packet_are_dropped_with_it() {
        let t0 = Instant::now();
        let mut l = InboundLimiter::new(1, 1 << 20, t0);
        assert_eq!(l.text("42[\"a\"]", t0), Verdict::Accept);
        assert_eq!(l.text("42[\"b\"]", t0), Verdict::Accept);
        assert_eq!(l.text("52-[\"c\",{},{}]", t0), Verdict::Drop);
        assert_eq!(l.binary(3, t0), Verdict::Drop);
        assert_eq!(l.binary(3, t0), Verdict::Drop);
        assert_eq!(l.binary(3, t0), Verdict::Accept);
    }

    #[test]
    fn attachment_count_parsing() {
        assert_eq!(announced_attachments("52-[\"x\"]"), 2);
        assert_eq!(announced_attachments("613-/a,1[]"), 13);
        assert_eq!(announced_attachments("42[\"x\"]"), 0);
        assert_eq!(announced_attachments("5x"), 0);
    }
}
