//! The result of one load-generator run, as written with `--json` and read by the runner.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One scenario run against one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// Scenario name (`connect`, `idle-memory`, `echo-ack`, `tick-fanout`, `capacity`,
    /// `slow-consumer`).
    pub scenario: String,
    /// The sizes and rates the run used.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Figures, each name carrying its unit (`_us`, `_ms`, `_pct`, `_kib`, `_per_s`).
    pub metrics: BTreeMap<String, f64>,
    /// Latency distributions: name → `(percentile, µs)` points.
    pub curves: BTreeMap<String, Vec<[f64; 2]>>,
    /// Per-step figures of a stepped scenario (capacity).
    pub steps: Vec<BTreeMap<String, f64>>,
    /// Warnings (generator saturated, errors, refused acks…).
    pub notes: Vec<String>,
}

impl RunResult {
    /// An empty result for `scenario`.
    pub fn new(scenario: &str) -> RunResult {
        RunResult {
            scenario: scenario.to_owned(),
            ..RunResult::default()
        }
    }

    /// Record a parameter.
    pub fn param(&mut self, name: &str, value: impl Into<serde_json::Value>) {
        self.params.insert(name.to_owned(), value.into());
    }

    /// Record a figure.
    pub fn metric(&mut self, name: &str, value: f64) {
        self.metrics.insert(name.to_owned(), value);
    }

    /// A figure, if recorded.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).copied()
    }
}
