//! Percentiles of latency samples and the quantile curves the plots draw.

use serde::{Deserialize, Serialize};

/// The usual percentiles of a sample set, in the samples' unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest sample.
    pub max: f64,
}

/// The value at percentile `p` (0–100) of sorted samples (nearest rank).
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // The epsilon keeps float error (99.9 / 100 * 1000 = 999.0000000000001) off the rank.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Sort `samples` and summarize them.
pub fn summarize(samples: &mut [u32]) -> Summary {
    samples.sort_unstable();
    if samples.is_empty() {
        return Summary::default();
    }
    let sum: u64 = samples.iter().map(|&v| u64::from(v)).sum();
    Summary {
        count: samples.len(),
        mean: sum as f64 / samples.len() as f64,
        p50: percentile(samples, 50.0),
        p90: percentile(samples, 90.0),
        p99: percentile(samples, 99.0),
        p999: percentile(samples, 99.9),
        max: f64::from(*samples.last().unwrap_or(&0)),
    }
}

/// `(percentile, value)` points of sorted samples, denser in the tail (up to 99.99 and the
/// maximum), for plotting a latency distribution.
pub fn quantile_curve(sorted: &[u32]) -> Vec<[f64; 2]> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let mut points = Vec::new();
    // "Nines" from 0 (p0) to 4 (p99.99) in steps of 0.05.
    for k in 0..=80 {
        let nines = f64::from(k) * 0.05;
        let p = 100.0 * (1.0 - 10f64.powf(-nines));
        points.push([p, percentile(sorted, p.max(0.0001))]);
    }
    points.push([100.0, f64::from(*sorted.last().unwrap_or(&0))]);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_one_to_thousand() {
        let mut v: Vec<u32> = (1..=1000).rev().collect();
        let s = summarize(&mut v);
        assert_eq!(s.count, 1000);
        assert_eq!(s.p50, 500.0);
        assert_eq!(s.p99, 990.0);
        assert_eq!(s.p999, 999.0);
        assert_eq!(s.max, 1000.0);
        let curve = quantile_curve(&v);
        assert_eq!(curve.first().unwrap()[1], 1.0);
        assert_eq!(curve.last().unwrap(), &[100.0, 1000.0]);
        assert!(curve.windows(2).all(|w| w[0][1] <= w[1][1]));
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(summarize(&mut []), Summary::default());
        assert!(quantile_curve(&[]).is_empty());
    }
}
