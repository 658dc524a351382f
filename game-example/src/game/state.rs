//! The game's state and the types that cross the wire.
//!
//! Wire types are plain serde structs with fixed shapes (no maps, no untagged enums), so the
//! same derive serves Socket.IO JSON and the compact codec's postcard payloads, which are
//! not self-describing.

use serde::{Deserialize, Serialize};

/// A player's number within a match (humans get the runtime's seat number, bots 1000+).
pub type Pid = u32;

/// The round has not started: players may move, nobody may shoot.
pub const PHASE_COUNTDOWN: u8 = 0;
/// The round is on.
pub const PHASE_PLAYING: u8 = 1;
/// The round is over: the scoreboard is shown, nothing moves.
pub const PHASE_OVER: u8 = 2;

/// An axis-aligned rectangle (an obstacle).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// The playing field: size, obstacles, spawn points. Sent to clients when they join, so the
/// browser's prediction uses the server's geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arena {
    /// Width in world units.
    pub width: f64,
    /// Height in world units.
    pub height: f64,
    /// Solid rectangles: players stop at them, projectiles die on them.
    pub obstacles: Vec<Rect>,
    /// Where players (re)appear.
    pub spawns: Vec<(f64, f64)>,
}

impl Arena {
    /// The one map of the game: 1600 × 1000 with a few crates and walls.
    pub fn standard() -> Arena {
        let r = |x, y, w, h| Rect { x, y, w, h };
        Arena {
            width: 1600.0,
            height: 1000.0,
            obstacles: vec![
                r(380.0, 180.0, 60.0, 240.0),
                r(1160.0, 580.0, 60.0, 240.0),
                r(700.0, 440.0, 200.0, 120.0),
                r(620.0, 120.0, 160.0, 50.0),
                r(820.0, 830.0, 160.0, 50.0),
                r(150.0, 700.0, 130.0, 60.0),
                r(1320.0, 240.0, 130.0, 60.0),
            ],
            spawns: vec![
                (120.0, 120.0),
                (1480.0, 880.0),
                (1480.0, 120.0),
                (120.0, 880.0),
                (800.0, 300.0),
                (800.0, 700.0),
                (560.0, 500.0),
                (1040.0, 500.0),
            ],
        }
    }
}

/// Numbers of the rules; sent to clients with the arena (they mirror the movement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuning {
    /// Player circle radius.
    pub player_radius: f64,
    /// Player speed, units per second.
    pub speed: f64,
    /// Projectile speed, units per second.
    pub projectile_speed: f64,
    /// Projectile radius.
    pub projectile_radius: f64,
    /// Seconds a projectile flies before it fades.
    pub projectile_life: f64,
    /// Seconds between two shots of one player.
    pub fire_cooldown: f64,
    /// Hit points a projectile takes.
    pub damage: u8,
    /// Hit points of a fresh player.
    pub max_hp: u8,
    /// Seconds between death and respawn.
    pub respawn_delay: f64,
    /// Points for a hit.
    pub hit_points: u32,
    /// Extra points for the hit that kills.
    pub kill_bonus: u32,
    /// Longest movement one input may carry, milliseconds.
    pub max_input_ms: u8,
    /// Most movement time a player may bank, seconds (inputs beyond it are cut short).
    pub max_move_budget: f64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            player_radius: 18.0,
            speed: 260.0,
            projectile_speed: 760.0,
            projectile_radius: 4.0,
            projectile_life: 1.1,
            fire_cooldown: 0.25,
            damage: 25,
            max_hp: 100,
            respawn_delay: 2.0,
            hit_points: 1,
            kill_bonus: 2,
            max_input_ms: 50,
            max_move_budget: 0.25,
        }
    }
}

/// How a round runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundConfig {
    /// Seconds before shooting starts.
    pub countdown_secs: f64,
    /// Length of the round.
    pub round_secs: f64,
    /// Seconds the scoreboard stays up before the match ends.
    pub scoreboard_secs: f64,
    /// The round ends early when someone reaches this score (0: no limit).
    pub score_limit: u32,
}

impl Default for RoundConfig {
    fn default() -> Self {
        RoundConfig {
            countdown_secs: 3.0,
            round_secs: 90.0,
            scoreboard_secs: 6.0,
            score_limit: 0,
        }
    }
}

/// One player (human or bot) in the match.
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    /// Its number.
    pub id: Pid,
    /// Display name.
    pub name: String,
    /// Driven by the server's AI.
    pub bot: bool,
    /// Centre, x.
    pub x: f64,
    /// Centre, y.
    pub y: f64,
    /// Aim, radians (0 = +x, clockwise on screen since y points down).
    pub angle: f64,
    /// Hit points left.
    pub hp: u8,
    /// Points.
    pub score: u32,
    /// Kills.
    pub kills: u16,
    /// Deaths.
    pub deaths: u16,
    /// On the field.
    pub alive: bool,
    /// Seconds until respawn (when dead).
    pub respawn_in: f64,
    /// Seconds until the next shot is allowed.
    pub cooldown: f64,
    /// Movement time the player may still spend (refilled by the clock).
    pub move_budget: f64,
    /// Whether any of this tick's inputs asked to fire.
    pub wants_fire: bool,
    /// Connected (humans may drop and come back; their avatar stays meanwhile).
    pub connected: bool,
}

/// A projectile in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Projectile {
    /// Its number (for client-side interpolation).
    pub id: u32,
    /// Who fired it.
    pub owner: Pid,
    /// Position, x.
    pub x: f64,
    /// Position, y.
    pub y: f64,
    /// Velocity, x.
    pub vx: f64,
    /// Velocity, y.
    pub vy: f64,
    /// Seconds left.
    pub life: f64,
}

/// Everything the rules know about a match.
#[derive(Debug, Clone, PartialEq)]
pub struct GameState {
    /// The field.
    pub arena: Arena,
    /// The numbers.
    pub tuning: Tuning,
    /// Round timing.
    pub round: RoundConfig,
    /// [`PHASE_COUNTDOWN`], [`PHASE_PLAYING`] or [`PHASE_OVER`].
    pub phase: u8,
    /// Seconds spent in the current phase.
    pub clock: f64,
    /// Players, in join order.
    pub players: Vec<Player>,
    /// Projectiles in flight.
    pub projectiles: Vec<Projectile>,
    /// Next projectile number.
    pub next_projectile: u32,
    /// Kills of the last step (for the kill feed).
    pub kills: Vec<Kill>,
    /// Spawns so far (picks the next spawn point deterministically).
    pub spawn_count: u32,
}

impl GameState {
    /// A new match on `arena` with no players yet.
    pub fn new(arena: Arena, tuning: Tuning, round: RoundConfig) -> GameState {
        let phase = if round.countdown_secs > 0.0 {
            PHASE_COUNTDOWN
        } else {
            PHASE_PLAYING
        };
        GameState {
            arena,
            tuning,
            round,
            phase,
            clock: 0.0,
            players: Vec::new(),
            projectiles: Vec::new(),
            next_projectile: 1,
            kills: Vec::new(),
            spawn_count: 0,
        }
    }

    /// The player numbered `id`.
    pub fn player(&self, id: Pid) -> Option<&Player> {
        self.players.iter().find(|p| p.id == id)
    }

    /// The player numbered `id`, mutable.
    pub fn player_mut(&mut self, id: Pid) -> Option<&mut Player> {
        self.players.iter_mut().find(|p| p.id == id)
    }

    /// Seconds left in the current phase.
    pub fn time_left(&self) -> f64 {
        let length = match self.phase {
            PHASE_COUNTDOWN => self.round.countdown_secs,
            PHASE_PLAYING => self.round.round_secs,
            _ => self.round.scoreboard_secs,
        };
        (length - self.clock).max(0.0)
    }

    /// Whether the scoreboard has been shown long enough: the match is done.
    pub fn finished(&self) -> bool {
        self.phase == PHASE_OVER && self.clock >= self.round.scoreboard_secs
    }

    /// The tick's snapshot (with the roster when asked for).
    pub fn snapshot(&self, with_roster: bool) -> Snapshot {
        Snapshot {
            phase: self.phase,
            time_left: self.time_left() as f32,
            players: self
                .players
                .iter()
                .map(|p| PlayerView {
                    id: p.id,
                    x: p.x as f32,
                    y: p.y as f32,
                    angle: p.angle as f32,
                    hp: p.hp,
                    score: p.score,
                    kills: p.kills,
                    deaths: p.deaths,
                    alive: p.alive,
                })
                .collect(),
            projectiles: self
                .projectiles
                .iter()
                .map(|b| ProjectileView {
                    id: b.id,
                    x: b.x as f32,
                    y: b.y as f32,
                })
                .collect(),
            kills: self.kills.clone(),
            roster: with_roster.then(|| {
                self.players
                    .iter()
                    .map(|p| RosterEntry {
                        id: p.id,
                        name: p.name.clone(),
                        bot: p.bot,
                    })
                    .collect()
            }),
        }
    }
}

/// What a player sends, many times a second (after its sequence number: `[seq, input]`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Input {
    /// Horizontal direction: -1, 0 or 1.
    pub dx: i8,
    /// Vertical direction: -1, 0 or 1 (down is +1).
    pub dy: i8,
    /// Aim angle, radians.
    pub aim: f32,
    /// Trigger held.
    pub fire: bool,
    /// Milliseconds of movement this input covers (clamped to `max_input_ms`).
    pub ms: u8,
}

/// One player in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerView {
    /// Its number.
    pub id: Pid,
    /// Centre, x.
    pub x: f32,
    /// Centre, y.
    pub y: f32,
    /// Aim, radians.
    pub angle: f32,
    /// Hit points.
    pub hp: u8,
    /// Points.
    pub score: u32,
    /// Kills.
    pub kills: u16,
    /// Deaths.
    pub deaths: u16,
    /// On the field.
    pub alive: bool,
}

/// One projectile in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectileView {
    /// Its number.
    pub id: u32,
    /// Position, x.
    pub x: f32,
    /// Position, y.
    pub y: f32,
}

/// A kill, for the feed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    /// Who shot.
    pub killer: Pid,
    /// Who fell.
    pub victim: Pid,
}

/// A name for a player number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// The number.
    pub id: Pid,
    /// Display name.
    pub name: String,
    /// A bot.
    pub bot: bool,
}

/// What every player receives each tick (inside the runtime's envelope, which adds the tick
/// and the last input sequence applied per player).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`PHASE_COUNTDOWN`], [`PHASE_PLAYING`] or [`PHASE_OVER`].
    pub phase: u8,
    /// Seconds left in the phase.
    pub time_left: f32,
    /// Every player.
    pub players: Vec<PlayerView>,
    /// Projectiles in flight.
    pub projectiles: Vec<ProjectileView>,
    /// Kills of this tick.
    pub kills: Vec<Kill>,
    /// Names, when they changed and twice a second (so a client that skipped a snapshot
    /// learns them soon).
    pub roster: Option<Vec<RosterEntry>>,
}
