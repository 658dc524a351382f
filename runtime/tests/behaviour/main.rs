//! The runtime's behaviour tests, one module per capability, in one test binary: a binary
//! per file linked the whole runtime twenty times over, which cost minutes of CI and
//! gigabytes of disk. Tests that measure the process (`soak`: resident memory), or drive
//! external programs (`interop`, `cluster`) keep their own binaries.

#[path = "../support/mod.rs"]
mod support;

mod acks;
mod admission;
mod backpressure;
mod bad_input;
mod binary;
mod codecs;
mod cors;
mod disconnect;
mod early_events;
mod encode_once;
mod exactly_once;
mod handshake;
mod heartbeat;
mod independent_servers;
mod match_resume;
mod matches;
mod namespaces;
mod recovery;
mod rooms;
mod socket_data;
mod text_payloads;
mod transports;
mod upgrade;
