//! Where a new match goes: the least loaded node that is not draining, by the loads the
//! nodes publish with their heartbeats; among nodes about as loaded, the one most of the
//! group's players are connected to, so that their inputs and snapshots take no bus hop.

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

/// How much busier than the least loaded node (in [`NodeLoad::score`] units: about one
/// match) a node may be and still host a group for its players' sake.
const LOCALITY_SLACK: f64 = 1.0;

/// The node to host a new match among `loads`, for a group whose players are connected to
/// `players_on` (one entry per player): among the nodes not draining and within
/// [`LOCALITY_SLACK`] of the lowest score, the one with most of the players, then the
/// least loaded, then the first listed; `None` when every node drains.
pub(crate) fn choose(loads: &[NodeLoad], players_on: &[u64]) -> Option<u64> {
    let open = loads.iter().filter(|load| !load.draining);
    let lowest = open.clone().map(NodeLoad::score).min_by(f64::total_cmp)?;
    let here = |node: u64| players_on.iter().filter(|n| **n == node).count();
    open.filter(|load| load.score() <= lowest + LOCALITY_SLACK)
        .min_by(|a, b| {
            here(b.node)
                .cmp(&here(a.node))
                .then(a.score().total_cmp(&b.score()))
        })
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
        assert_eq!(choose(&loads, &[]), Some(2));
        // Players and tick load count, not only matches.
        let loads = [load(1, 1, 2, 0.01, false), load(2, 1, 40, 0.5, false)];
        assert_eq!(choose(&loads, &[]), Some(1));
        // Groups on their way count as matches.
        let mut busy = load(1, 0, 0, 0.0, false);
        busy.pending = 2;
        assert_eq!(choose(&[busy, load(2, 1, 0, 0.0, false)], &[]), Some(2));
        assert_eq!(choose(&[load(1, 0, 0, 0.0, true)], &[]), None);
        assert_eq!(choose(&[], &[1]), None);
    }

    #[test]
    fn a_group_goes_where_its_players_are_when_that_node_is_about_as_loaded() {
        let loads = [load(1, 0, 0, 0.0, false), load(2, 1, 0, 0.0, false)];
        // Most of the players are on node 2, one match busier: it hosts.
        assert_eq!(choose(&loads, &[2, 2, 1]), Some(2));
        // Even: the less loaded of the nodes with most players.
        assert_eq!(choose(&loads, &[1, 2]), Some(1));
        // Too busy: load wins.
        let loads = [load(1, 0, 0, 0.0, false), load(2, 3, 0, 0.0, false)];
        assert_eq!(choose(&loads, &[2, 2]), Some(1));
        // A draining node never hosts, wherever the players are.
        let loads = [load(1, 2, 0, 0.0, false), load(2, 0, 0, 0.0, true)];
        assert_eq!(choose(&loads, &[2, 2]), Some(1));
    }
}
