//! The glue between the pure rules and a tickwire match room.
//!
//! The runtime queues each player's `input` events (`[seq, Input]`), applies them to
//! [`ArenaMatch::on_input`] in sequence order, then calls [`ArenaMatch::tick`]; the returned
//! [`Snapshot`] reaches every seat inside the runtime's envelope, whose `acks` carry each
//! player's last applied sequence number for the browser's reconciliation. Bot seats think
//! here, once per tick. Spectators hold a seat too (so snapshots reach them through the
//! same per-codec fan-out) but have no avatar.
//!
//! Delta snapshots: a client that sends inputs as `[seq, input, tick]` acknowledges the
//! newest tick it applied; from then on it gets [`DELTA_EVENT`] with the change from that
//! tick ([`crate::game::delta`]) rather than the whole snapshot, while the tick is among the
//! last [`delta_history`] kept. Clients that acknowledge nothing (spectators, older clients)
//! keep getting full snapshots.

use std::time::Duration;

use serde_json::Value;
use tickwire::game::{Deltas, SnapshotDelta};
use tickwire::{LeaveReason, Match, MatchConfig, MatchContext, PlayerId, PlayerInfo};

use crate::game::bots::{BotBrain, BotView};
use crate::game::delta::diff;
use crate::game::rules::{add_player, remove_player, step};
use crate::game::state::{Arena, GameState, Input, Pid, RoundConfig, Snapshot, Tuning};
use crate::wire::{MatchSummary, ScoreLine};

/// Bot seats are numbered from here (the runtime numbers human seats from 1).
pub const FIRST_BOT_ID: Pid = 1000;

/// The event snapshots are sent as.
pub const SNAPSHOT_EVENT: &str = "state";
/// The event inputs arrive as (`[seq, input]`, or `[seq, input, tick]` acknowledging `tick`).
pub const INPUT_EVENT: &str = "input";
/// The event delta snapshots are sent as (`{tick, base, acks, delta}`, the delta a
/// [`StateDelta`](crate::game::delta::StateDelta)).
pub const DELTA_EVENT: &str = "state-delta";

/// Past snapshots a match keeps as delta bases at `tick_rate`: a quarter of a second, at
/// least 8 (a client whose acknowledgement is older gets the full snapshot).
pub fn delta_history(tick_rate: u32) -> usize {
    (tick_rate as usize / 4).max(8)
}

const BOT_NAMES: [&str; 8] = [
    "Ada", "Brick", "Cyan", "Dash", "Echo", "Flint", "Gizmo", "Hex",
];

/// How matches are made.
#[derive(Debug, Clone)]
pub struct MatchSettings {
    /// Ticks per second.
    pub tick_rate: u32,
    /// Players per match (humans and bots).
    pub match_size: usize,
    /// Spectator seats per match.
    pub max_spectators: usize,
    /// The field.
    pub arena: Arena,
    /// Round timing.
    pub round: RoundConfig,
    /// The rules' numbers.
    pub tuning: Tuning,
}

impl Default for MatchSettings {
    fn default() -> Self {
        MatchSettings {
            tick_rate: 30,
            match_size: 4,
            max_spectators: 8,
            arena: Arena::standard(),
            round: RoundConfig::default(),
            tuning: Tuning::default(),
        }
    }
}

impl MatchSettings {
    /// The runtime configuration of one match room.
    pub fn match_config(&self) -> MatchConfig {
        MatchConfig {
            tick_rate: self.tick_rate,
            max_players: self.match_size + self.max_spectators,
            reservation_timeout: Duration::from_secs(15),
            reconnect_window: Duration::from_secs(10),
            empty_timeout: Duration::from_secs(10),
            input_queue: 32,
            snapshot_event: SNAPSHOT_EVENT.into(),
            input_event: INPUT_EVENT.into(),
            envelope: true,
            label: "arena".into(),
        }
    }
}

/// Whether a seat request is for a spectator (`{"spectator": true}` in its data).
pub fn is_spectator(info: &PlayerInfo) -> bool {
    info.data.get("spectator").and_then(Value::as_bool) == Some(true)
}

/// One arena match: the rules' state plus what the glue needs around it.
#[derive(Debug)]
pub struct ArenaMatch {
    state: GameState,
    tick_rate: u32,
    pending: Vec<(Pid, Input)>,
    bots: Vec<(Pid, BotBrain)>,
    spectators: Vec<PlayerId>,
    human_slots: usize,
    humans_reserved: usize,
    max_spectators: usize,
    had_humans: bool,
    roster_changed: bool,
    ticks: u64,
}

impl ArenaMatch {
    /// A match for `humans` queued players plus `bots` bot seats.
    pub fn new(settings: &MatchSettings, humans: usize, bots: usize, seed: u64) -> ArenaMatch {
        let mut state = GameState::new(
            settings.arena.clone(),
            settings.tuning.clone(),
            settings.round.clone(),
        );
        let mut brains = Vec::with_capacity(bots);
        for i in 0..bots {
            let id = FIRST_BOT_ID + i as Pid;
            let name = format!("{} (bot)", BOT_NAMES[i % BOT_NAMES.len()]);
            add_player(&mut state, id, &name, true);
            let salt = (u64::from(id)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            brains.push((id, BotBrain::new(seed ^ salt)));
        }
        ArenaMatch {
            state,
            tick_rate: settings.tick_rate.clamp(1, 120),
            pending: Vec::new(),
            bots: brains,
            spectators: Vec::new(),
            human_slots: humans,
            humans_reserved: 0,
            max_spectators: settings.max_spectators,
            had_humans: false,
            roster_changed: true,
            ticks: 0,
        }
    }

    /// The rules' state (read-only).
    pub fn game_state(&self) -> &GameState {
        &self.state
    }

    /// The lobby's summary of this match, listed as `id` (the match knows no id of its own:
    /// the lobby fills in its wire id).
    pub fn summary(&self, id: String) -> MatchSummary {
        let mut players: Vec<ScoreLine> = self
            .state
            .players
            .iter()
            .map(|p| ScoreLine {
                id: p.id,
                name: p.name.clone(),
                score: p.score,
                bot: p.bot,
            })
            .collect();
        players.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
        MatchSummary {
            id,
            phase: self.state.phase,
            time_left: self.state.time_left() as f32,
            players,
            spectators: self.spectators.len() as u32,
        }
    }
}

impl Match for ArenaMatch {
    type Input = Input;
    type Snapshot = Snapshot;

    fn join_attempt(&mut self, player: &PlayerInfo) -> Result<(), String> {
        if is_spectator(player) {
            if self.spectators.len() >= self.max_spectators {
                return Err("no spectator seat left".into());
            }
            return Ok(());
        }
        if self.humans_reserved >= self.human_slots {
            return Err("match is full".into());
        }
        self.humans_reserved += 1;
        Ok(())
    }

    fn on_join(&mut self, _ctx: &mut MatchContext, player: PlayerId, info: &PlayerInfo) {
        self.seat(player, info);
    }

    fn on_leave(&mut self, _ctx: &mut MatchContext, player: PlayerId, reason: LeaveReason) {
        self.unseat(player, reason);
    }

    fn on_rejoin(&mut self, _ctx: &mut MatchContext, player: PlayerId) {
        if let Some(p) = self.state.player_mut(player) {
            p.connected = true;
        }
    }

    fn on_input(&mut self, _ctx: &mut MatchContext, player: PlayerId, _seq: u32, input: Input) {
        // Spectators and strangers have no avatar: their inputs do nothing.
        if self.state.player(player).is_some_and(|p| !p.bot) {
            self.pending.push((player, input));
        }
    }

    fn tick(&mut self, ctx: &mut MatchContext, dt: Duration) -> Snapshot {
        let (snapshot, end) = self.advance(dt);
        if end {
            ctx.end();
        }
        snapshot
    }

    fn deltas(&self) -> Option<Deltas> {
        Some(Deltas {
            history: delta_history(self.tick_rate),
            event: DELTA_EVENT.into(),
        })
    }

    fn delta(&self, base: &Snapshot, current: &Snapshot) -> Option<SnapshotDelta> {
        Some(SnapshotDelta::new(diff(base, current)))
    }

    /// The lobby's list reads this: on one node straight from the match, in a cluster from
    /// the directory (as of the host's last heartbeat, which carries at most
    /// [`MAX_LISTED_STATE`](tickwire::game::cluster::MAX_LISTED_STATE) bytes of it; a summary
    /// of eight players is a few hundred).
    fn state(&self) -> Value {
        serde_json::to_value(self.summary(String::new())).unwrap_or(Value::Null)
    }
}

impl ArenaMatch {
    /// A player (or spectator) took its seat.
    pub fn seat(&mut self, player: PlayerId, info: &PlayerInfo) {
        if is_spectator(info) {
            self.spectators.push(player);
            return;
        }
        self.had_humans = true;
        add_player(&mut self.state, player, &info.name, false);
        self.roster_changed = true;
    }

    /// A player (or spectator) left, for now (`Disconnected`) or for good.
    pub fn unseat(&mut self, player: PlayerId, reason: LeaveReason) {
        if let Some(i) = self.spectators.iter().position(|&s| s == player) {
            if reason != LeaveReason::Disconnected {
                self.spectators.swap_remove(i);
            }
            return;
        }
        match reason {
            LeaveReason::Disconnected => {
                if let Some(p) = self.state.player_mut(player) {
                    p.connected = false;
                }
            }
            LeaveReason::TimedOut | LeaveReason::Left => {
                remove_player(&mut self.state, player);
                self.roster_changed = true;
            }
        }
    }

    /// Bots think, the rules step with the tick's inputs; returns the snapshot and whether
    /// the match is over (scoreboard shown, or every human gone).
    pub fn advance(&mut self, dt: Duration) -> (Snapshot, bool) {
        let dt = dt.as_secs_f64();
        for (id, brain) in &mut self.bots {
            if let Some(view) = BotView::from_state(&self.state, *id) {
                let input = brain.think(&view, dt);
                self.pending.push((*id, input));
            }
        }
        step(&mut self.state, &self.pending, dt);
        self.pending.clear();
        let humans_left = self.state.players.iter().any(|p| !p.bot);
        let end = self.state.finished() || (self.had_humans && !humans_left);
        let every = u64::from((self.tick_rate / 2).max(1));
        let with_roster =
            std::mem::take(&mut self.roster_changed) || self.ticks.is_multiple_of(every);
        self.ticks += 1;
        (self.state.snapshot(with_roster), end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::state::PHASE_OVER;

    fn human(name: &str) -> PlayerInfo {
        PlayerInfo {
            name: name.into(),
            data: Value::Null,
        }
    }

    #[test]
    fn seats_humans_up_to_the_group_and_spectators_apart() {
        let settings = MatchSettings::default();
        let mut m = ArenaMatch::new(&settings, 1, 3, 7);
        assert_eq!(m.game_state().players.len(), 3);
        assert!(m.join_attempt(&human("a")).is_ok());
        assert_eq!(m.join_attempt(&human("b")), Err("match is full".into()));
        let spectator = PlayerInfo {
            name: "eye".into(),
            data: serde_json::json!({"spectator": true}),
        };
        assert!(m.join_attempt(&spectator).is_ok());
        assert!(settings.match_config().max_players > settings.match_size);
    }

    #[test]
    fn snapshots_carry_the_roster_when_it_changes() {
        let settings = MatchSettings::default();
        let mut m = ArenaMatch::new(&settings, 1, 1, 7);
        let dt = Duration::from_millis(33);
        assert!(m.advance(dt).0.roster.is_some());
        assert!(m.advance(dt).0.roster.is_none());
        m.seat(1, &human("z"));
        let (snapshot, end) = m.advance(dt);
        assert_eq!(snapshot.roster.map(|r| r.len()), Some(2));
        assert!(!end);
        // The last human leaving ends the match.
        m.unseat(1, LeaveReason::Left);
        assert!(m.advance(dt).1);
    }

    #[test]
    fn the_match_sends_the_game_s_deltas() {
        let settings = MatchSettings::default();
        let mut m = ArenaMatch::new(&settings, 0, 4, 7);
        let deltas = m.deltas().expect("deltas on");
        assert_eq!((deltas.history, deltas.event.as_str()), (8, DELTA_EVENT));
        assert_eq!(delta_history(120), 30);
        let dt = Duration::from_millis(33);
        let base = m.advance(dt).0;
        let current = m.advance(dt).0;
        let sent = m.delta(&base, &current).expect("a delta").to_json();
        let delta: crate::game::delta::StateDelta =
            serde_json::from_value(sent.expect("serializes")).unwrap();
        assert_eq!(crate::game::delta::apply(&base, &delta), current);
    }

    #[test]
    fn the_match_ends_after_the_scoreboard() {
        let settings = MatchSettings {
            round: RoundConfig {
                countdown_secs: 0.0,
                round_secs: 0.5,
                scoreboard_secs: 0.5,
                score_limit: 0,
            },
            ..MatchSettings::default()
        };
        let mut m = ArenaMatch::new(&settings, 0, 2, 7);
        let mut ended = false;
        for _ in 0..40 {
            let (snapshot, end) = m.advance(Duration::from_millis(50));
            if end {
                assert_eq!(snapshot.phase, PHASE_OVER);
                ended = true;
                break;
            }
        }
        assert!(ended);
    }
}
