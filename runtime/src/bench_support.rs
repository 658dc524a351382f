//! Hooks for the benchmarks (feature `bench-internals`): the runtime's own fan-out path
//! without sockets, so it can be timed in a loop.

use std::sync::Arc;

use serde::Serialize;
use tickwire_protocol::engineio::TransportKind;

use crate::engine::{Codec, Outbox};
use crate::socketio::{EncodeCounters, EncodeOnce};

/// A set of members' outbound queues, `json` of them on the JSON codec, `compact` on the
/// compact codec, as a match room holds them.
#[derive(Debug)]
pub struct MixedMembers {
    members: Vec<(Codec, Arc<Outbox>)>,
    encodes: EncodeCounters,
}

impl MixedMembers {
    /// `json` + `compact` members with the default queue bounds.
    pub fn new(json: usize, compact: usize) -> MixedMembers {
        let config = crate::Config::default();
        let outbox = || {
            Arc::new(Outbox::new(
                TransportKind::WebSocket,
                config.max_buffered_bytes,
                Default::default(),
            ))
        };
        let members = std::iter::repeat_n(Codec::Json, json)
            .chain(std::iter::repeat_n(Codec::Compact, compact))
            .map(|codec| (codec, outbox()))
            .collect();
        MixedMembers {
            members,
            encodes: EncodeCounters::default(),
        }
    }

    /// What a match does each tick: encode `data` once per codec present and queue the
    /// frame for every member in the latest class (replacing the previous tick's if it is
    /// still queued). Returns the bytes queued.
    pub fn broadcast_latest<T: Serialize>(&self, event: &str, data: &T) -> usize {
        let mut once = EncodeOnce::new(&self.encodes, "/", event, data, None);
        let mut bytes = 0;
        for (codec, outbox) in &self.members {
            if let Ok(frames) = once.frames(*codec) {
                for frame in frames {
                    bytes += frame.len();
                    outbox.push_latest(1, frame.clone());
                }
            }
        }
        bytes
    }

    /// Frames waiting over all members.
    pub fn queued(&self) -> usize {
        self.members.iter().map(|(_, o)| o.depth().0).sum()
    }
}
