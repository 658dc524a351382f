//! The reconnection policy: exponential backoff with jitter.

use std::time::Duration;

/// When and how often a client reconnects after losing its connection.
///
/// Attempt `n` (from 1) waits `initial * factor^(n-1)`, capped at `max`, then spread by
/// `± jitter` of itself at random so that many clients dropped at once do not come back at
/// once, and capped at `max` again. The defaults are the Socket.IO JS client's: 1 s initial,
/// 5 s max, factor 2, jitter 0.5, unlimited attempts.
///
/// A reconnection re-opens the Engine.IO session and joins the namespace again (with the
/// same auth); handlers stay registered, and emits queued meanwhile are sent once it is back.
/// A refusal of the namespace ([`Error::ConnectRefused`](super::Error::ConnectRefused))
/// ends the retries.
///
/// ```
/// use std::time::Duration;
/// use tickwire_client::Reconnect;
///
/// let policy = Reconnect::default()
///     .initial(Duration::from_millis(100))
///     .max(Duration::from_secs(2))
///     .jitter(0.0)
///     .max_attempts(Some(5));
/// assert_eq!(policy.delay(1, 0.7), Duration::from_millis(100));
/// assert_eq!(policy.delay(3, 0.7), Duration::from_millis(400));
/// assert_eq!(policy.delay(10, 0.7), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reconnect {
    enabled: bool,
    initial: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
    max_attempts: Option<u32>,
    after_server_disconnect: bool,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            enabled: true,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(5),
            factor: 2.0,
            jitter: 0.5,
            max_attempts: None,
            after_server_disconnect: false,
        }
    }
}

impl Reconnect {
    /// Never reconnect: the first lost connection closes the client.
    pub fn disabled() -> Reconnect {
        Reconnect {
            enabled: false,
            ..Reconnect::default()
        }
    }

    /// The delay before the first attempt (default 1 s).
    pub fn initial(mut self, delay: Duration) -> Reconnect {
        self.initial = delay;
        self
    }

    /// The longest delay between attempts (default 5 s).
    pub fn max(mut self, delay: Duration) -> Reconnect {
        self.max = delay;
        self
    }

    /// How much each delay grows over the previous one (default 2; values below 1 are
    /// read as 1).
    pub fn factor(mut self, factor: f64) -> Reconnect {
        self.factor = factor;
        self
    }

    /// The random spread of each delay, as a fraction of it (default 0.5, clamped to
    /// `0.0..=1.0`).
    pub fn jitter(mut self, jitter: f64) -> Reconnect {
        self.jitter = jitter;
        self
    }

    /// Give up after this many failed attempts in a row (default `None`: never).
    pub fn max_attempts(mut self, attempts: Option<u32>) -> Reconnect {
        self.max_attempts = attempts;
        self
    }

    /// Also reconnect when the server removed the socket from its namespace (default
    /// `false`: like the Socket.IO JS client, a client the server kicked stays out). Load
    /// generators and soak bots turn it on.
    pub fn after_server_disconnect(mut self, reconnect: bool) -> Reconnect {
        self.after_server_disconnect = reconnect;
        self
    }

    /// Whether the client reconnects at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Whether a connection lost for `reason` is retried under this policy.
    pub(crate) fn retries(&self, reason: super::DisconnectReason) -> bool {
        use super::DisconnectReason as R;
        self.enabled
            && match reason {
                R::ClientDisconnect => false,
                R::ServerDisconnect => self.after_server_disconnect,
                _ => true,
            }
    }

    /// Whether attempt `attempt` (from 1) is still allowed.
    pub(crate) fn allows(&self, attempt: u32) -> bool {
        match self.max_attempts {
            Some(max) => attempt <= max,
            None => true,
        }
    }

    /// The delay before attempt `attempt` (from 1), with `random` in `0.0..1.0` choosing
    /// where in the jitter range it falls (`0.5` is the middle: no jitter).
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let max = self.max.as_secs_f64();
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let exponent = attempt.saturating_sub(1).min(1024) as i32;
        let base = (self.initial.as_secs_f64() * factor.powi(exponent)).min(max);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let random = if random.is_finite() {
            random.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let spread = base * (1.0 + jitter * (2.0 * random - 1.0));
        Duration::try_from_secs_f64(spread.clamp(0.0, max)).unwrap_or(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DisconnectReason;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn grows_exponentially_up_to_the_cap() {
        let policy = Reconnect::default()
            .initial(ms(100))
            .max(ms(1000))
            .jitter(0.0);
        let delays: Vec<_> = (1..=6).map(|n| policy.delay(n, 0.3)).collect();
        assert_eq!(
            delays,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(policy.delay(u32::MAX, 0.3), ms(1000));
        assert_eq!(policy.delay(0, 0.3), ms(100));
    }

    #[test]
    fn jitter_spreads_within_bounds_and_never_past_max() {
        let policy = Reconnect::default()
            .initial(ms(1000))
            .max(ms(1200))
            .jitter(0.5);
        assert_eq!(policy.delay(1, 0.0), ms(500));
        assert_eq!(policy.delay(1, 0.5), ms(1000));
        assert_eq!(policy.delay(1, 1.0), ms(1200), "capped");
        for i in 0..100 {
            let d = policy.delay(1, f64::from(i) / 100.0);
            assert!(d >= ms(500) && d <= ms(1200), "{d:?}");
        }
    }

    #[test]
    fn hostile_parameters_never_panic() {
        let policy = Reconnect::default()
            .initial(Duration::MAX)
            .max(Duration::MAX)
            .factor(f64::INFINITY)
            .jitter(f64::NAN);
        let _ = policy.delay(u32::MAX, f64::NAN);
        let policy = Reconnect::default().factor(-3.0).jitter(7.0);
        assert!(policy.delay(5, 1.0) <= Duration::from_secs(5));
    }

    #[test]
    fn which_reasons_are_retried() {
        let default = Reconnect::default();
        assert!(default.retries(DisconnectReason::TransportClose));
        assert!(default.retries(DisconnectReason::PingTimeout));
        assert!(!default.retries(DisconnectReason::ClientDisconnect));
        assert!(!default.retries(DisconnectReason::ServerDisconnect));
        assert!(default
            .after_server_disconnect(true)
            .retries(DisconnectReason::ServerDisconnect));
        assert!(!Reconnect::disabled().retries(DisconnectReason::TransportClose));
        let limited = Reconnect::default().max_attempts(Some(2));
        assert!(limited.allows(2) && !limited.allows(3));
    }
}
