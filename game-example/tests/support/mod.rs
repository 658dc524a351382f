//! Helpers shared by the tests that need an outside program of their own.

pub(crate) mod redis;
