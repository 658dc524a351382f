//! Where a new match goes: the least loaded node that is not draining, by the loads the
//! nodes publish with their heartbeats.

use serde::{Deserialize, Serialize};

/// What a node publishes of its load with each heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeLoad {
    /// The node's id.
    pub node: u64,
    /// Live matches.
    pub matches: usize,
    /// Players seated in them.
    pub players: usize,
    /// Tick budget used: the sum over its matches of median tick work over tick period
    /// (1.0 is one core's worth).
    pub tick_load: f64,
    /// The node is draining: it gets no new match.
    pub draining: bool,
    /// Groups placed on it that its last heartbeat did not show hosted yet (they count as
    /// matches, so that a burst of groups spreads before the next heartbeats).
    #[serde(skip)]
    pub pending: usize,
}

impl NodeLoad {
    /// One figure to compare nodes by: a match, ten players and a tenth of a core weigh
    /// about the same.
    pub(crate) fn score(&self) -> f64 {
        (self.matches + self.pending) as f64 + self.players as f64 / 10.0 + self.tick_load * 10.0
    }
}

/// The node to host a new match among `loads`: the lowest score among those not draining,
/// the first listed among equals; `None` when every node drains.
pub(crate) fn choose(loads: &[NodeLoad]) -> Option<u64> {
    loads
        .iter()
        .filter(|load| !load.draining)
        .min_by(|a, b| a.score().total_cmp(&b.score()))
        .map(|load| load.node)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(node: u64, matches: usize, players: usize, tick_load: f64, draining: bool) -> NodeLoad {
        NodeLoad {
            node,
            matches,
            players,
            tick_load,
            draining,
            pending: 0,
        }
    }

    #[test]
    fn the_least_loaded_node_that_does_not_drain_hosts() {
        let loads = [
            load(1, 3, 30, 0.3, false),
            load(2, 1, 10, 0.1, false),
            load(3, 0, 0, 0.0, true),
        ];
        assert_eq!(choose(&loads), Some(2));
        // Players and tick load count, not only matches.
        let loads = [load(1, 1, 2, 0.01, false), load(2, 1, 40, 0.5, false)];
        assert_eq!(choose(&loads), Some(1));
        assert_eq!(choose(&[load(1, 0, 0, 0.0, true)]), None);
        // Groups on their way count as matches.
        let mut busy = load(1, 0, 0, 0.0, false);
        busy.pending = 2;
        assert_eq!(choose(&[busy, load(2, 1, 0, 0.0, false)]), Some(2));
        assert_eq!(choose(&[]), None);
    }
}
