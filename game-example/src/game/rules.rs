//! The rules: pure functions of (state, inputs, dt). No clock, no I/O, no actix.
//!
//! Movement ([`move_player`] and [`resolve_circle`]) is deliberately small: the browser
//! mirrors it line by line in `web/game.js` to predict its own player between snapshots, and
//! it uses the same f64 operations in the same order, so a replay gives the same position.

use std::f64::consts::FRAC_1_SQRT_2;

use super::state::{
    Arena, GameState, Input, Kill, Pid, Player, Projectile, Rect, Tuning, PHASE_COUNTDOWN,
    PHASE_OVER, PHASE_PLAYING,
};

/// Longest step the rules take at once: after a stall the world slows down rather than
/// teleporting things through walls.
pub const MAX_STEP_SECS: f64 = 0.25;

/// Longest distance a projectile travels between two collision checks.
const PROJECTILE_SUBSTEP: f64 = 8.0;

/// Push a circle at (`x`, `y`) of radius `r` out of every obstacle, then inside the arena.
pub fn resolve_circle(mut x: f64, mut y: f64, r: f64, arena: &Arena) -> (f64, f64) {
    for o in &arena.obstacles {
        let cx = x.clamp(o.x, o.x + o.w);
        let cy = y.clamp(o.y, o.y + o.h);
        let ddx = x - cx;
        let ddy = y - cy;
        let d2 = ddx * ddx + ddy * ddy;
        if d2 >= r * r {
            continue;
        }
        if d2 > 0.0 {
            let d = d2.sqrt();
            x = cx + ddx / d * r;
            y = cy + ddy / d * r;
        } else {
            // The centre is inside: leave by the nearest side.
            let left = x - o.x;
            let right = o.x + o.w - x;
            let top = y - o.y;
            let bottom = o.y + o.h - y;
            let m = left.min(right).min(top).min(bottom);
            if m == left {
                x = o.x - r;
            } else if m == right {
                x = o.x + o.w + r;
            } else if m == top {
                y = o.y - r;
            } else {
                y = o.y + o.h + r;
            }
        }
    }
    (x.clamp(r, arena.width - r), y.clamp(r, arena.height - r))
}

/// Where a player at (`x`, `y`) ends after moving in direction (`dx`, `dy`) for `dt` seconds.
pub fn move_player(
    x: f64,
    y: f64,
    dx: i8,
    dy: i8,
    dt: f64,
    arena: &Arena,
    tuning: &Tuning,
) -> (f64, f64) {
    let mut vx = f64::from(dx.clamp(-1, 1));
    let mut vy = f64::from(dy.clamp(-1, 1));
    if vx != 0.0 && vy != 0.0 {
        vx *= FRAC_1_SQRT_2;
        vy *= FRAC_1_SQRT_2;
    }
    let nx = x + vx * tuning.speed * dt;
    let ny = y + vy * tuning.speed * dt;
    resolve_circle(nx, ny, tuning.player_radius, arena)
}

/// Seconds of movement an input covers.
pub fn input_secs(input: &Input, tuning: &Tuning) -> f64 {
    f64::from(input.ms.min(tuning.max_input_ms)) / 1000.0
}

/// Whether the point (`x`, `y`), grown by `r`, touches the rectangle.
fn point_in_rect(x: f64, y: f64, r: f64, o: &Rect) -> bool {
    x >= o.x - r && x <= o.x + o.w + r && y >= o.y - r && y <= o.y + o.h + r
}

/// Whether the segment from `a` to `b` is clear of obstacles (checked every few units).
pub fn line_of_sight(a: (f64, f64), b: (f64, f64), arena: &Arena) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt();
    let steps = (len / PROJECTILE_SUBSTEP).ceil().max(1.0) as u32;
    (0..=steps).all(|i| {
        let t = f64::from(i) / f64::from(steps);
        let (x, y) = (a.0 + dx * t, a.1 + dy * t);
        !arena.obstacles.iter().any(|o| point_in_rect(x, y, 0.0, o))
    })
}

/// The spawn point farthest from every living player but `who` (the first one on ties).
fn safest_spawn(state: &GameState, who: Pid) -> (f64, f64) {
    let mut best = (state.arena.width / 2.0, state.arena.height / 2.0);
    let mut best_score = f64::MIN;
    for &(sx, sy) in &state.arena.spawns {
        let nearest = state
            .players
            .iter()
            .filter(|p| p.alive && p.id != who)
            .map(|p| (p.x - sx).powi(2) + (p.y - sy).powi(2))
            .fold(f64::MAX, f64::min);
        if nearest > best_score {
            best_score = nearest;
            best = (sx, sy);
        }
    }
    best
}

/// Seat a player (or mark a returning one connected). New players take the spawn points in
/// turn.
pub fn add_player(state: &mut GameState, id: Pid, name: &str, bot: bool) {
    if let Some(p) = state.player_mut(id) {
        p.connected = true;
        return;
    }
    let spawns = &state.arena.spawns;
    let (x, y) = if spawns.is_empty() {
        (state.arena.width / 2.0, state.arena.height / 2.0)
    } else {
        spawns[state.spawn_count as usize % spawns.len()]
    };
    state.spawn_count += 1;
    let angle = (state.arena.height / 2.0 - y).atan2(state.arena.width / 2.0 - x);
    state.players.push(Player {
        id,
        name: name.to_owned(),
        bot,
        x,
        y,
        angle,
        hp: state.tuning.max_hp,
        score: 0,
        kills: 0,
        deaths: 0,
        alive: true,
        respawn_in: 0.0,
        cooldown: 0.0,
        move_budget: state.tuning.max_move_budget,
        wants_fire: false,
        connected: true,
    });
}

/// Remove a player for good.
pub fn remove_player(state: &mut GameState, id: Pid) {
    state.players.retain(|p| p.id != id);
}

/// Apply one input of player `id`: aim, trigger, and movement within its budget.
pub fn apply_input(state: &mut GameState, id: Pid, input: &Input) {
    let frozen = state.phase == PHASE_OVER;
    let arena = &state.arena;
    let tuning = &state.tuning;
    let Some(p) = state.players.iter_mut().find(|p| p.id == id) else {
        return;
    };
    if !p.alive || frozen {
        return;
    }
    if input.aim.is_finite() {
        p.angle = f64::from(input.aim);
    }
    p.wants_fire |= input.fire;
    let secs = input_secs(input, tuning).min(p.move_budget);
    if secs <= 0.0 {
        return;
    }
    p.move_budget -= secs;
    if input.dx != 0 || input.dy != 0 {
        (p.x, p.y) = move_player(p.x, p.y, input.dx, input.dy, secs, arena, tuning);
    }
}

/// Advance the match by `dt` seconds with `inputs` (per player, in the order to apply).
pub fn step(state: &mut GameState, inputs: &[(Pid, Input)], dt: f64) {
    let dt = if dt.is_finite() {
        dt.clamp(0.0, MAX_STEP_SECS)
    } else {
        0.0
    };
    state.kills.clear();
    if state.phase == PHASE_OVER {
        state.clock += dt;
        return;
    }
    let max_budget = state.tuning.max_move_budget;
    for p in &mut state.players {
        p.move_budget = (p.move_budget + dt).min(max_budget);
    }
    for (id, input) in inputs {
        apply_input(state, *id, input);
    }
    fire(state, dt);
    advance_projectiles(state, dt);
    respawn(state, dt);
    state.clock += dt;
    advance_phase(state);
}

fn fire(state: &mut GameState, dt: f64) {
    let shooting = state.phase == PHASE_PLAYING;
    let t = &state.tuning;
    for p in &mut state.players {
        p.cooldown = (p.cooldown - dt).max(0.0);
        let wants = std::mem::take(&mut p.wants_fire);
        if !(shooting && wants && p.alive && p.cooldown <= 0.0) {
            continue;
        }
        p.cooldown = t.fire_cooldown;
        let (c, s) = (p.angle.cos(), p.angle.sin());
        let muzzle = t.player_radius + t.projectile_radius + 2.0;
        state.projectiles.push(Projectile {
            id: state.next_projectile,
            owner: p.id,
            x: p.x + c * muzzle,
            y: p.y + s * muzzle,
            vx: c * t.projectile_speed,
            vy: s * t.projectile_speed,
            life: t.projectile_life,
        });
        state.next_projectile = state.next_projectile.wrapping_add(1);
    }
}

fn advance_projectiles(state: &mut GameState, dt: f64) {
    let t = state.tuning.clone();
    let mut i = 0;
    while i < state.projectiles.len() {
        let b = state.projectiles[i].clone();
        let speed = (b.vx * b.vx + b.vy * b.vy).sqrt();
        let steps = (speed * dt / PROJECTILE_SUBSTEP).ceil().max(1.0);
        let sub = dt / steps;
        let (mut x, mut y, mut life) = (b.x, b.y, b.life);
        let mut gone = false;
        for _ in 0..steps as u32 {
            x += b.vx * sub;
            y += b.vy * sub;
            life -= sub;
            let outside = x < 0.0 || y < 0.0 || x > state.arena.width || y > state.arena.height;
            if outside
                || state
                    .arena
                    .obstacles
                    .iter()
                    .any(|o| point_in_rect(x, y, t.projectile_radius, o))
            {
                gone = true;
                break;
            }
            let reach = t.player_radius + t.projectile_radius;
            let victim = state.players.iter().position(|p| {
                p.alive && p.id != b.owner && (p.x - x).powi(2) + (p.y - y).powi(2) < reach * reach
            });
            if let Some(v) = victim {
                hit(state, b.owner, v);
                gone = true;
                break;
            }
            if life <= 0.0 {
                gone = true;
                break;
            }
        }
        if gone {
            state.projectiles.swap_remove(i);
        } else {
            let p = &mut state.projectiles[i];
            (p.x, p.y, p.life) = (x, y, life);
            i += 1;
        }
    }
    // Keep a stable order for the snapshot (swap_remove shuffles).
    state.projectiles.sort_by_key(|b| b.id);
}

/// `shooter` hit the player at index `victim`.
fn hit(state: &mut GameState, shooter: Pid, victim: usize) {
    let t = &state.tuning;
    let (hit_points, kill_bonus, damage, delay) =
        (t.hit_points, t.kill_bonus, t.damage, t.respawn_delay);
    let v = &mut state.players[victim];
    v.hp = v.hp.saturating_sub(damage);
    let killed = v.hp == 0;
    let victim_id = v.id;
    if killed {
        v.alive = false;
        v.deaths = v.deaths.saturating_add(1);
        v.respawn_in = delay;
        state.kills.push(Kill {
            killer: shooter,
            victim: victim_id,
        });
    }
    if let Some(s) = state.player_mut(shooter) {
        s.score += hit_points;
        if killed {
            s.score += kill_bonus;
            s.kills = s.kills.saturating_add(1);
        }
    }
}

fn respawn(state: &mut GameState, dt: f64) {
    let due: Vec<Pid> = state
        .players
        .iter_mut()
        .filter(|p| !p.alive)
        .filter_map(|p| {
            p.respawn_in -= dt;
            (p.respawn_in <= 0.0).then_some(p.id)
        })
        .collect();
    for id in due {
        let (x, y) = safest_spawn(state, id);
        let max_hp = state.tuning.max_hp;
        if let Some(p) = state.player_mut(id) {
            (p.x, p.y) = (x, y);
            p.hp = max_hp;
            p.alive = true;
            p.respawn_in = 0.0;
            p.cooldown = 0.0;
        }
    }
}

fn advance_phase(state: &mut GameState) {
    match state.phase {
        PHASE_COUNTDOWN if state.clock >= state.round.countdown_secs => {
            state.phase = PHASE_PLAYING;
            state.clock = 0.0;
        }
        PHASE_PLAYING => {
            let limit = state.round.score_limit;
            let reached = limit > 0 && state.players.iter().any(|p| p.score >= limit);
            if reached || state.clock >= state.round.round_secs {
                state.phase = PHASE_OVER;
                state.clock = 0.0;
                state.projectiles.clear();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::state::{RoundConfig, PHASE_PLAYING};

    fn open_arena() -> Arena {
        Arena {
            width: 1000.0,
            height: 1000.0,
            obstacles: vec![],
            spawns: vec![(100.0, 500.0), (400.0, 500.0)],
        }
    }

    fn playing(arena: Arena) -> GameState {
        GameState::new(
            arena,
            Tuning::default(),
            RoundConfig {
                countdown_secs: 0.0,
                round_secs: 60.0,
                scoreboard_secs: 5.0,
                score_limit: 0,
            },
        )
    }

    fn input(dx: i8, dy: i8, ms: u8) -> Input {
        Input {
            dx,
            dy,
            aim: 0.0,
            fire: false,
            ms,
        }
    }

    #[test]
    fn moves_at_speed_and_normalizes_diagonals() {
        let t = Tuning::default();
        let a = open_arena();
        let (x, y) = move_player(500.0, 500.0, 1, 0, 0.5, &a, &t);
        assert_eq!((x, y), (500.0 + t.speed * 0.5, 500.0));
        let (x, y) = move_player(500.0, 500.0, 1, 1, 1.0, &a, &t);
        let moved = ((x - 500.0).powi(2) + (y - 500.0).powi(2)).sqrt();
        assert!((moved - t.speed).abs() < 1e-9, "diagonal moved {moved}");
    }

    #[test]
    fn arena_walls_stop_players() {
        let t = Tuning::default();
        let a = open_arena();
        let (x, y) = move_player(30.0, 30.0, -1, -1, 1.0, &a, &t);
        assert_eq!((x, y), (t.player_radius, t.player_radius));
        let (x, _) = move_player(990.0, 500.0, 1, 0, 1.0, &a, &t);
        assert_eq!(x, 1000.0 - t.player_radius);
    }

    #[test]
    fn obstacles_push_players_out() {
        let t = Tuning::default();
        let mut a = open_arena();
        a.obstacles.push(Rect {
            x: 500.0,
            y: 400.0,
            w: 100.0,
            h: 200.0,
        });
        // Walking right into the box's left face stops at its edge.
        let mut pos = (400.0, 500.0);
        for _ in 0..60 {
            pos = move_player(pos.0, pos.1, 1, 0, 0.05, &a, &t);
        }
        assert_eq!(pos, (500.0 - t.player_radius, 500.0));
        // A centre inside the box leaves by the nearest side.
        assert_eq!(
            resolve_circle(590.0, 500.0, t.player_radius, &a),
            (600.0 + t.player_radius, 500.0)
        );
        // Near a corner the push is radial.
        let (x, y) = resolve_circle(495.0, 395.0, t.player_radius, &a);
        let d = ((x - 500.0).powi(2) + (y - 400.0).powi(2)).sqrt();
        assert!((d - t.player_radius).abs() < 1e-9);
    }

    #[test]
    fn inputs_spend_a_bounded_movement_budget() {
        let mut s = playing(open_arena());
        add_player(&mut s, 1, "a", false);
        let start = s.players[0].x;
        // A flood of inputs in one tick moves at most the banked budget.
        let flood: Vec<(Pid, Input)> = (0..100).map(|_| (1, input(1, 0, 50))).collect();
        step(&mut s, &flood, 1.0 / 30.0);
        let moved = s.players[0].x - start;
        let max = s.tuning.speed * s.tuning.max_move_budget;
        assert!(moved <= max + 1e-9, "moved {moved} > {max}");
        assert!(moved > 0.0);
    }

    #[test]
    fn a_shot_hits_and_scores_and_kills_respawn() {
        let mut s = playing(open_arena());
        add_player(&mut s, 1, "shooter", false);
        add_player(&mut s, 2, "target", false);
        // Shooter at (100, 500) aims right at the target at (400, 500).
        let shoot = Input {
            fire: true,
            ..input(0, 0, 0)
        };
        let t = s.tuning.clone();
        let shots_to_kill = u32::from(t.max_hp.div_ceil(t.damage));
        let mut ticks = 0;
        while s.player(2).is_some_and(|p| p.alive) && ticks < 600 {
            step(&mut s, &[(1, shoot)], 1.0 / 30.0);
            ticks += 1;
        }
        let shooter = s.player(1).cloned().unwrap();
        let target = s.player(2).cloned().unwrap();
        assert!(!target.alive);
        assert_eq!(target.deaths, 1);
        assert_eq!(shooter.kills, 1);
        assert_eq!(shooter.score, shots_to_kill * t.hit_points + t.kill_bonus);
        assert_eq!(
            s.kills,
            vec![Kill {
                killer: 1,
                victim: 2
            }]
        );
        // Dead players ignore inputs and come back after the delay, healed.
        let before = (target.x, target.y);
        step(&mut s, &[(2, input(1, 0, 30))], 0.1);
        let t2 = s.player(2).unwrap();
        assert!(!t2.alive);
        assert_eq!((t2.x, t2.y), before);
        for _ in 0..30 {
            step(&mut s, &[], 0.1);
        }
        let t2 = s.player(2).unwrap();
        assert!(t2.alive);
        assert_eq!(t2.hp, t.max_hp);
    }

    #[test]
    fn obstacles_stop_projectiles_and_own_shots_do_not_hurt() {
        let mut a = open_arena();
        a.obstacles.push(Rect {
            x: 240.0,
            y: 400.0,
            w: 20.0,
            h: 200.0,
        });
        let mut s = playing(a);
        add_player(&mut s, 1, "a", false);
        add_player(&mut s, 2, "b", false);
        assert!(!line_of_sight((100.0, 500.0), (400.0, 500.0), &s.arena));
        let shoot = Input {
            fire: true,
            ..input(0, 0, 0)
        };
        for _ in 0..90 {
            step(&mut s, &[(1, shoot)], 1.0 / 30.0);
        }
        assert_eq!(s.player(2).unwrap().hp, s.tuning.max_hp);
        assert_eq!(s.player(1).unwrap().hp, s.tuning.max_hp);
        assert_eq!(s.player(1).unwrap().score, 0);
    }

    #[test]
    fn countdown_forbids_shooting_then_the_round_ends_on_time() {
        let mut s = GameState::new(
            open_arena(),
            Tuning::default(),
            RoundConfig {
                countdown_secs: 1.0,
                round_secs: 2.0,
                scoreboard_secs: 1.0,
                score_limit: 0,
            },
        );
        add_player(&mut s, 1, "a", false);
        add_player(&mut s, 2, "b", false);
        let shoot = Input {
            fire: true,
            ..input(0, 0, 0)
        };
        step(&mut s, &[(1, shoot)], 0.25);
        step(&mut s, &[(1, shoot)], 0.25);
        assert!(s.projectiles.is_empty(), "no shooting in the countdown");
        // Movement is allowed in the countdown.
        let x = s.player(1).unwrap().x;
        step(&mut s, &[(1, input(0, 1, 20))], 0.25);
        assert!(s.player(1).unwrap().y > 500.0 && s.player(1).unwrap().x == x);
        step(&mut s, &[], 0.25);
        assert_eq!(s.phase, PHASE_PLAYING);
        assert!((s.time_left() - 2.0).abs() < 1e-9);
        for _ in 0..8 {
            step(&mut s, &[], 0.25);
        }
        assert_eq!(s.phase, PHASE_OVER);
        assert!(!s.finished());
        // Over: nothing moves, the scoreboard runs out.
        let frozen = s.player(1).unwrap().clone();
        step(&mut s, &[(1, input(1, 0, 50))], 0.25);
        assert_eq!(s.player(1).unwrap(), &frozen);
        for _ in 0..3 {
            step(&mut s, &[], 0.25);
        }
        assert!(s.finished());
    }

    #[test]
    fn score_limit_ends_the_round_early() {
        let mut s = playing(open_arena());
        s.round.score_limit = 2;
        add_player(&mut s, 1, "a", false);
        add_player(&mut s, 2, "b", false);
        let shoot = Input {
            fire: true,
            ..input(0, 0, 0)
        };
        for _ in 0..60 {
            step(&mut s, &[(1, shoot)], 1.0 / 30.0);
        }
        assert_eq!(s.phase, PHASE_OVER);
        assert_eq!(s.player(1).unwrap().score, 2);
    }

    #[test]
    fn long_stalls_are_clamped_and_nan_is_ignored() {
        let mut s = playing(open_arena());
        add_player(&mut s, 1, "a", false);
        step(&mut s, &[], 100.0);
        assert!((s.clock - MAX_STEP_SECS).abs() < 1e-12);
        step(&mut s, &[], f64::NAN);
        let weird = Input {
            aim: f32::NAN,
            ..input(1, 0, 255)
        };
        step(&mut s, &[(1, weird)], 0.1);
        assert!(s.player(1).unwrap().angle.is_finite());
    }

    #[test]
    fn respawn_picks_the_spawn_farthest_from_the_living() {
        let mut a = open_arena();
        a.spawns = vec![(100.0, 100.0), (900.0, 900.0)];
        let mut s = playing(a);
        add_player(&mut s, 1, "a", false);
        add_player(&mut s, 2, "b", false);
        s.players[1].alive = false;
        s.players[1].respawn_in = 0.01;
        step(&mut s, &[], 0.05);
        assert_eq!((s.players[1].x, s.players[1].y), (900.0, 900.0));
    }
}
