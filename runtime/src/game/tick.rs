//! The fixed-tick clock: absolute deadlines, skip instead of burst, `dt` from the clock.
//!
//! Pure: the caller passes `now`. Slot `n` is due at `start + n × period`; a late wake-up
//! runs the newest due slot and skips the ones it missed, so a stall never produces a burst
//! of catch-up ticks, and scheduling never drifts. [`spread_phase`] staggers the clocks of
//! matches that start together, so that their ticks do not all fall in one burst.

use std::time::{Duration, Instant};

/// One tick to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// The slot number (ticks since start, skipped slots included).
    pub slot: u64,
    /// Time since the previous tick ran (one period for the first).
    pub dt: Duration,
    /// How late this tick runs after its slot's deadline.
    pub lateness: Duration,
    /// Slots skipped because the clock fell behind by whole periods.
    pub skipped: u64,
}

/// Deadlines of a fixed-rate tick.
#[derive(Debug, Clone)]
pub struct TickClock {
    start: Instant,
    period: Duration,
    next_slot: u64,
    last_run: Option<Instant>,
}

impl TickClock {
    /// A clock ticking `rate_hz` times per second from `start` (slot 0 due at `start`).
    /// The rate is clamped to 1..=1000.
    pub fn new(start: Instant, rate_hz: u32) -> TickClock {
        let rate = rate_hz.clamp(1, 1000);
        TickClock {
            start,
            period: Duration::from_nanos(1_000_000_000 / u64::from(rate)),
            next_slot: 0,
            last_run: None,
        }
    }

    /// The clock of the `turn`-th match of a thread: slot 0 within one period of `now`, at
    /// the phase [`spread_phase`] gives that turn.
    pub(crate) fn staggered(now: Instant, rate_hz: u32, turn: u64) -> TickClock {
        let mut clock = TickClock::new(now, rate_hz);
        clock.start += spread_phase(turn, clock.period);
        clock
    }

    /// The period between slots.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// When the next slot is due.
    pub fn deadline(&self) -> Instant {
        self.slot_time(self.next_slot)
    }

    fn slot_time(&self, slot: u64) -> Instant {
        // Multiply in nanoseconds to avoid accumulating rounding error.
        let nanos = self.period.as_nanos().saturating_mul(u128::from(slot));
        self.start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Run the tick due at `now`, or `None` if the next slot is not due yet.
    pub fn fire(&mut self, now: Instant) -> Option<Tick> {
        if now < self.deadline() {
            return None;
        }
        let elapsed = now.duration_since(self.start).as_nanos();
        let due = u64::try_from(elapsed / self.period.as_nanos().max(1)).unwrap_or(u64::MAX);
        let slot = due.max(self.next_slot);
        let skipped = slot - self.next_slot;
        let lateness = now.saturating_duration_since(self.slot_time(slot));
        let dt = self
            .last_run
            .map_or(self.period, |last| now.saturating_duration_since(last));
        self.next_slot = slot + 1;
        self.last_run = Some(now);
        Some(Tick {
            slot,
            dt,
            lateness,
            skipped,
        })
    }
}

/// 2⁶⁴ divided by the golden ratio: `turn × GOLDEN` (mod 2⁶⁴) is the fractional part of
/// `turn / φ` in 64-bit fixed point.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Where in `period` the clock of the `turn`-th match of a thread starts: the fractional
/// part of `turn / φ`, times `period`. However many matches a thread runs, their phases
/// cover the period evenly (no gap between two neighbours longer than twice the even
/// share, the three-gap theorem), and earlier matches keep theirs: matches spawned in one
/// burst then tick in turn, not all at once.
pub(crate) fn spread_phase(turn: u64, period: Duration) -> Duration {
    let fraction = u128::from(turn.wrapping_mul(GOLDEN));
    let nanos = (fraction * period.as_nanos()) >> 64;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn slots_are_absolute_and_do_not_drift() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(t0, 50);
        assert_eq!(clock.deadline(), t0);
        // Each tick wakes 3 ms late; deadlines stay on the 20 ms grid.
        for n in 0..100u64 {
            let tick = clock.fire(t0 + ms(20 * n + 3)).unwrap();
            assert_eq!(tick.slot, n);
            assert_eq!(tick.lateness, ms(3));
            assert_eq!(tick.skipped, 0);
            assert_eq!(clock.deadline(), t0 + ms(20 * (n + 1)));
        }
    }

    #[test]
    fn early_wake_runs_nothing() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(t0, 10);
        assert!(clock.fire(t0).is_some());
        assert_eq!(clock.fire(t0 + ms(99)), None);
        assert_eq!(clock.fire(t0 + ms(100)).map(|t| t.slot), Some(1));
    }

    #[test]
    fn a_stall_skips_missed_slots_instead_of_bursting() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(t0, 100);
        clock.fire(t0).unwrap();
        // Stalled for 55 ms: slots 1..=4 are missed, slot 5 runs once, 5 ms late.
        let tick = clock.fire(t0 + ms(55)).unwrap();
        assert_eq!((tick.slot, tick.skipped, tick.lateness), (5, 4, ms(5)));
        assert_eq!(tick.dt, ms(55));
        // The next slot is 6, not a catch-up burst.
        assert_eq!(clock.fire(t0 + ms(56)), None);
        assert_eq!(
            clock.fire(t0 + ms(60)).map(|t| (t.slot, t.skipped)),
            Some((6, 0))
        );
    }

    #[test]
    fn dt_comes_from_the_clock() {
        let t0 = Instant::now();
        let mut clock = TickClock::new(t0, 20);
        assert_eq!(clock.fire(t0 + ms(1)).unwrap().dt, ms(50));
        assert_eq!(clock.fire(t0 + ms(52)).unwrap().dt, ms(51));
        assert_eq!(clock.fire(t0 + ms(100)).unwrap().dt, ms(48));
    }

    #[test]
    fn rate_is_clamped() {
        let clock = TickClock::new(Instant::now(), 0);
        assert_eq!(clock.period(), Duration::from_secs(1));
    }

    #[test]
    fn spread_phases_cover_the_period_evenly_for_any_count() {
        let period = Duration::from_micros(33_333);
        let first = spread_phase(0, period);
        assert_eq!(first, Duration::ZERO);
        for count in 1..=500u64 {
            let mut phases: Vec<Duration> =
                (0..count).map(|turn| spread_phase(turn, period)).collect();
            phases.sort();
            assert!(phases.iter().all(|p| *p < period));
            let wrap = period - phases[phases.len() - 1] + phases[0];
            let widest = phases
                .windows(2)
                .map(|w| w[1] - w[0])
                .chain([wrap])
                .max()
                .unwrap();
            // Never more than twice the even share.
            assert!(
                widest * count as u32 <= period * 2,
                "{count} matches: a gap of {widest:?}"
            );
        }
    }

    #[test]
    fn a_staggered_clock_first_ticks_within_one_period_at_its_turns_phase() {
        let t0 = Instant::now();
        let first = TickClock::staggered(t0, 30, 0);
        assert_eq!(first.deadline(), t0);
        let third = TickClock::staggered(t0, 30, 2);
        let period = third.period();
        assert_eq!(third.deadline(), t0 + spread_phase(2, period));
        assert!(third.deadline() < t0 + period);
        let mut third = third;
        assert_eq!(third.fire(t0), None);
        let tick = third.fire(t0 + spread_phase(2, period)).unwrap();
        assert_eq!((tick.slot, tick.dt), (0, period));
    }

    #[test]
    fn ten_matches_spawned_together_tick_at_ten_phases() {
        let period = Duration::from_micros(16_667);
        let mut phases: Vec<u128> = (0..10)
            .map(|turn| spread_phase(turn, period).as_micros())
            .collect();
        phases.sort();
        // Golden vector: the first ten turns of a 60 Hz period, in µs.
        assert_eq!(
            phases,
            [0, 1502, 3934, 5437, 7869, 9371, 10300, 11803, 14235, 15738]
        );
    }
}
