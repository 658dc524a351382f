//! The actors: one per Engine.IO connection, one per namespace.

pub(crate) mod connection;
pub(crate) mod matchroom;
pub(crate) mod namespace;
