//! [`MatchMetrics`]: per-match figures, kept by the match after each tick where its
//! server's metrics endpoint (and [`MatchHandle::metrics`](super::MatchHandle::metrics))
//! reads them without a round trip to the actor.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

/// Tick durations remembered for the percentiles.
const DURATIONS: usize = 1024;

/// Per-match figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MatchMetrics {
    /// Ticks run.
    pub ticks: u64,
    /// Tick slots skipped because the actor fell behind.
    pub skipped: u64,
    /// Ticks whose work took longer than a period.
    pub overruns: u64,
    /// Median tick work time, microseconds (last 1024 ticks).
    pub tick_p50_us: u64,
    /// 99th percentile tick work time, microseconds (last 1024 ticks).
    pub tick_p99_us: u64,
    /// Worst lateness of a tick after its deadline, microseconds.
    pub max_lateness_us: u64,
    /// Players seated (connected or within the window).
    pub players: usize,
    /// Bytes of snapshot queued on the last tick (all members, all codecs).
    pub bytes_last_tick: usize,
    /// Inputs dropped because a player's queue was full.
    pub inputs_dropped: u64,
}

/// A match's figures as it records them: the counters, and the last tick durations.
#[derive(Debug, Default)]
pub(super) struct TickStats {
    metrics: MatchMetrics,
    durations: VecDeque<u64>,
}

impl TickStats {
    /// Record one tick: how late it ran, slots skipped before it, and its work time, against
    /// its `period`.
    pub(super) fn record(
        &mut self,
        lateness: Duration,
        skipped: u64,
        work: Duration,
        period: Duration,
    ) {
        let m = &mut self.metrics;
        m.ticks += 1;
        m.skipped += skipped;
        if work > period {
            m.overruns += 1;
        }
        m.max_lateness_us = m.max_lateness_us.max(lateness.as_micros() as u64);
        if self.durations.len() == DURATIONS {
            self.durations.pop_front();
        }
        self.durations.push_back(work.as_micros() as u64);
    }

    pub(super) fn set_players(&mut self, players: usize) {
        self.metrics.players = players;
    }

    pub(super) fn set_bytes_last_tick(&mut self, bytes: usize) {
        self.metrics.bytes_last_tick = bytes;
    }

    pub(super) fn add_inputs_dropped(&mut self, dropped: u64) {
        self.metrics.inputs_dropped += dropped;
    }

    pub(super) fn ticks(&self) -> u64 {
        self.metrics.ticks
    }

    /// The figures now, percentiles included.
    pub(super) fn snapshot(&self) -> MatchMetrics {
        let mut sorted: Vec<u64> = self.durations.iter().copied().collect();
        sorted.sort_unstable();
        let pct = |p: f64| {
            if sorted.is_empty() {
                0
            } else {
                sorted[((sorted.len() - 1) as f64 * p).round() as usize]
            }
        };
        MatchMetrics {
            tick_p50_us: pct(0.5),
            tick_p99_us: pct(0.99),
            ..self.metrics.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_counters_follow_the_recorded_ticks() {
        let mut stats = TickStats::default();
        let period = Duration::from_millis(10);
        for us in 1..=100u64 {
            stats.record(
                Duration::from_micros(us),
                0,
                Duration::from_micros(us),
                period,
            );
        }
        stats.record(Duration::ZERO, 3, Duration::from_millis(11), period);
        let m = stats.snapshot();
        assert_eq!((m.ticks, m.skipped, m.overruns), (101, 3, 1));
        assert_eq!(m.tick_p50_us, 51);
        assert_eq!(m.max_lateness_us, 100);
        assert!(m.tick_p99_us >= 100);
    }
}
