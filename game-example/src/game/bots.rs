//! A simple AI: chase the nearest enemy to a comfortable range, strafe, shoot when the line
//! is clear, wander when alone, and unstick itself from walls.
//!
//! It sees the world as a [`BotView`], which the server builds from the state (bot seats)
//! and a headless client builds from a snapshot (load bots), so both play the same way.

use super::rules::line_of_sight;
use super::state::{Arena, GameState, Input, Pid};

/// What a bot knows for one decision.
#[derive(Debug, Clone)]
pub struct BotView<'a> {
    /// Its own position.
    pub me: (f64, f64),
    /// Positions of living enemies.
    pub enemies: Vec<(f64, f64)>,
    /// The field.
    pub arena: &'a Arena,
    /// Whether shooting is allowed now.
    pub can_shoot: bool,
}

impl<'a> BotView<'a> {
    /// The view of player `me` in `state` (`None` when it is not on the field).
    pub fn from_state(state: &'a GameState, me: Pid) -> Option<BotView<'a>> {
        let p = state.player(me).filter(|p| p.alive)?;
        Some(BotView {
            me: (p.x, p.y),
            enemies: state
                .players
                .iter()
                .filter(|o| o.alive && o.id != me)
                .map(|o| (o.x, o.y))
                .collect(),
            arena: &state.arena,
            can_shoot: state.phase == super::state::PHASE_PLAYING,
        })
    }
}

/// One bot's memory between decisions.
#[derive(Debug, Clone)]
pub struct BotBrain {
    rng: u64,
    strafe: i8,
    strafe_timer: f64,
    stuck_timer: f64,
    last_pos: (f64, f64),
    wander: Option<(f64, f64)>,
    /// Aim error, radians, redrawn now and then (bots should be beatable).
    aim_error: f64,
}

impl BotBrain {
    /// A brain whose choices follow from `seed`.
    pub fn new(seed: u64) -> BotBrain {
        BotBrain {
            rng: seed | 1,
            strafe: 1,
            strafe_timer: 0.0,
            stuck_timer: 0.0,
            last_pos: (f64::NAN, f64::NAN),
            wander: None,
            aim_error: 0.0,
        }
    }

    fn next(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Decide the next input covering `dt` seconds.
    pub fn think(&mut self, view: &BotView<'_>, dt: f64) -> Input {
        let (mx, my) = view.me;
        // Unstick: if we wanted to move but barely did, flip the strafe and pick a new
        // wander point.
        let moved = (mx - self.last_pos.0).hypot(my - self.last_pos.1);
        if moved < 0.5 {
            self.stuck_timer += dt;
        } else {
            self.stuck_timer = 0.0;
        }
        self.last_pos = (mx, my);
        if self.stuck_timer > 0.4 {
            self.stuck_timer = 0.0;
            self.strafe = -self.strafe;
            self.wander = None;
        }
        self.strafe_timer -= dt;
        if self.strafe_timer <= 0.0 {
            self.strafe_timer = 0.8 + 1.7 * self.unit();
            if self.unit() < 0.5 {
                self.strafe = -self.strafe;
            }
            self.aim_error = (self.unit() - 0.5) * 0.18;
        }
        let target = view.enemies.iter().copied().min_by(|a, b| {
            let da = (a.0 - mx).hypot(a.1 - my);
            let db = (b.0 - mx).hypot(b.1 - my);
            da.total_cmp(&db)
        });
        let ms = (dt * 1000.0).round().clamp(1.0, 255.0) as u8;
        let Some((tx, ty)) = target else {
            let (wx, wy) = match self.wander {
                Some(w) if (w.0 - mx).hypot(w.1 - my) > 40.0 => w,
                _ => {
                    let w = (
                        80.0 + self.unit() * (view.arena.width - 160.0),
                        80.0 + self.unit() * (view.arena.height - 160.0),
                    );
                    self.wander = Some(w);
                    w
                }
            };
            let (dx, dy) = steer(wx - mx, wy - my);
            return Input {
                dx,
                dy,
                aim: (wy - my).atan2(wx - mx) as f32,
                fire: false,
                ms,
            };
        };
        let (ex, ey) = (tx - mx, ty - my);
        let dist = ex.hypot(ey).max(1e-6);
        let (ux, uy) = (ex / dist, ey / dist);
        let clear = line_of_sight(view.me, (tx, ty), view.arena);
        // Close in when far or blocked, back off when too close, circle in between.
        let strafe = f64::from(self.strafe);
        let (vx, vy) = if !clear || dist > 360.0 {
            (ux + 0.4 * -uy * strafe, uy + 0.4 * ux * strafe)
        } else if dist < 170.0 {
            (-ux + 0.6 * -uy * strafe, -uy + 0.6 * ux * strafe)
        } else {
            (-uy * strafe + 0.15 * ux, ux * strafe + 0.15 * uy)
        };
        let (dx, dy) = steer(vx, vy);
        Input {
            dx,
            dy,
            aim: (ey.atan2(ex) + self.aim_error) as f32,
            fire: view.can_shoot && clear && dist < 650.0,
            ms,
        }
    }
}

/// The 8-way direction closest to the vector (`vx`, `vy`).
fn steer(vx: f64, vy: f64) -> (i8, i8) {
    let len = vx.hypot(vy);
    if len < 1e-9 {
        return (0, 0);
    }
    let axis = |c: f64| {
        if c > 0.38 * len {
            1
        } else if c < -0.38 * len {
            -1
        } else {
            0
        }
    };
    (axis(vx), axis(vy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::rules::{add_player, step};
    use crate::game::state::{RoundConfig, Tuning, PHASE_OVER};

    #[test]
    fn steer_picks_eight_way_directions() {
        assert_eq!(steer(1.0, 0.0), (1, 0));
        assert_eq!(steer(1.0, 1.0), (1, 1));
        assert_eq!(steer(-0.1, -1.0), (0, -1));
        assert_eq!(steer(0.0, 0.0), (0, 0));
    }

    #[test]
    fn bots_fight_and_somebody_scores() {
        let mut s = GameState::new(
            Arena::standard(),
            Tuning::default(),
            RoundConfig {
                countdown_secs: 0.0,
                round_secs: 40.0,
                scoreboard_secs: 1.0,
                score_limit: 0,
            },
        );
        let mut brains = Vec::new();
        for id in 1..=4 {
            add_player(&mut s, id, &format!("bot{id}"), true);
            brains.push((id, BotBrain::new(u64::from(id) * 7919)));
        }
        let dt = 1.0 / 30.0;
        while s.phase != PHASE_OVER {
            let inputs: Vec<(Pid, Input)> = brains
                .iter_mut()
                .filter_map(|(id, brain)| {
                    let view = BotView::from_state(&s, *id)?;
                    Some((*id, brain.think(&view, dt)))
                })
                .collect();
            step(&mut s, &inputs, dt);
        }
        let total: u32 = s.players.iter().map(|p| p.score).sum();
        assert!(total > 0, "bots never hit anything in 40 s");
    }
}
