//! Shared pieces of tickwire's benchmarks: a cheap Socket.IO client for the load generator,
//! RFC 6455 framing (also used by the bare-socket floor server), `/proc` sampling,
//! percentiles and the JSON result format the runner aggregates.
//!
//! The binaries: `bench-server` (tickwire's contract server), `loadgen` (the scenarios),
//! `floor-server` (the bare-socket floor), `runner` (builds the table and the plots).

pub mod client;
pub mod polling;
pub mod procfs;
pub mod report;
pub mod stats;
pub mod ws;
