//! Delta snapshots: what changed from a base [`Snapshot`] (one the client acknowledged) to
//! the current one, and its inverse, [`apply`]. Pure: no clock, no I/O.
//!
//! A delta lists, by id, the players and projectiles that changed and those that are gone;
//! anything not listed is as in the base. A player's entry carries only the fields that
//! changed ([`PlayerChange`]: a player walking left sends its `x`); a projectile's, its
//! position. The phase, the time left, the tick's kills and the roster (when the snapshot has
//! one) are carried as they are.
//!
//! `apply(base, &diff(base, current)) == current` for any two snapshots whose players and
//! projectiles have distinct ids: floats are compared by their bits, so what is applied is
//! exactly what the server sent. Like [`Snapshot`], the delta has a fixed serde shape that
//! one derive serves in JSON and in the compact codec's postcard payloads: a player's change
//! is a tuple `[id, mask, values…]` whose mask says which values follow, and projectiles are
//! `[id, x, y]` tuples (no field names in JSON).

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::state::{Kill, Pid, PlayerView, ProjectileView, RosterEntry, Snapshot};

/// A projectile's position: `(id, x, y)`.
pub type Shot = (u32, f32, f32);

/// What changed about one player: the fields that are `Some`.
///
/// On the wire a tuple: the id, a mask of the fields present (bit 0 `x`, 1 `y`, 2 `angle`,
/// 3 `hp`, 4 `score`, 5 `kills`, 6 `deaths`, 7 `alive`), then those fields in that order.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PlayerChange {
    /// The player.
    pub id: Pid,
    /// Centre, x.
    pub x: Option<f32>,
    /// Centre, y.
    pub y: Option<f32>,
    /// Aim, radians.
    pub angle: Option<f32>,
    /// Hit points.
    pub hp: Option<u8>,
    /// Points.
    pub score: Option<u32>,
    /// Kills.
    pub kills: Option<u16>,
    /// Deaths.
    pub deaths: Option<u16>,
    /// On the field.
    pub alive: Option<bool>,
}

impl PlayerChange {
    /// The change that makes `base` (or, with none, a player not known yet) into `current`:
    /// `None` when nothing changed.
    pub fn between(base: Option<&PlayerView>, current: &PlayerView) -> Option<PlayerChange> {
        let changed =
            |same: fn(&PlayerView, &PlayerView) -> bool| base.is_none_or(|b| !same(b, current));
        let change = PlayerChange {
            id: current.id,
            x: changed(|a, b| a.x.to_bits() == b.x.to_bits()).then_some(current.x),
            y: changed(|a, b| a.y.to_bits() == b.y.to_bits()).then_some(current.y),
            angle: changed(|a, b| a.angle.to_bits() == b.angle.to_bits()).then_some(current.angle),
            hp: changed(|a, b| a.hp == b.hp).then_some(current.hp),
            score: changed(|a, b| a.score == b.score).then_some(current.score),
            kills: changed(|a, b| a.kills == b.kills).then_some(current.kills),
            deaths: changed(|a, b| a.deaths == b.deaths).then_some(current.deaths),
            alive: changed(|a, b| a.alive == b.alive).then_some(current.alive),
        };
        (change.mask() != 0).then_some(change)
    }

    /// Set the fields present on `p`.
    pub fn apply_to(&self, p: &mut PlayerView) {
        p.x = self.x.unwrap_or(p.x);
        p.y = self.y.unwrap_or(p.y);
        p.angle = self.angle.unwrap_or(p.angle);
        p.hp = self.hp.unwrap_or(p.hp);
        p.score = self.score.unwrap_or(p.score);
        p.kills = self.kills.unwrap_or(p.kills);
        p.deaths = self.deaths.unwrap_or(p.deaths);
        p.alive = self.alive.unwrap_or(p.alive);
    }

    /// Which fields are present (see the type's note).
    pub fn mask(&self) -> u8 {
        [
            self.x.is_some(),
            self.y.is_some(),
            self.angle.is_some(),
            self.hp.is_some(),
            self.score.is_some(),
            self.kills.is_some(),
            self.deaths.is_some(),
            self.alive.is_some(),
        ]
        .iter()
        .enumerate()
        .fold(0, |mask, (bit, &on)| mask | (u8::from(on) << bit))
    }
}

impl Serialize for PlayerChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mask = self.mask();
        let mut t = serializer.serialize_tuple(2 + mask.count_ones() as usize)?;
        t.serialize_element(&self.id)?;
        t.serialize_element(&mask)?;
        for v in [self.x, self.y, self.angle].into_iter().flatten() {
            t.serialize_element(&v)?;
        }
        if let Some(v) = self.hp {
            t.serialize_element(&v)?;
        }
        if let Some(v) = self.score {
            t.serialize_element(&v)?;
        }
        for v in [self.kills, self.deaths].into_iter().flatten() {
            t.serialize_element(&v)?;
        }
        if let Some(v) = self.alive {
            t.serialize_element(&v)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for PlayerChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<PlayerChange, D::Error> {
        // At most the id, the mask and eight fields; the mask says how many are read.
        deserializer.deserialize_tuple(10, ChangeVisitor)
    }
}

struct ChangeVisitor;

impl<'de> Visitor<'de> for ChangeVisitor {
    type Value = PlayerChange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a player change [id, mask, fields...]")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PlayerChange, A::Error> {
        let mut read = 0;
        let id: Pid = element(&mut seq, &mut read)?;
        let mask: u8 = element(&mut seq, &mut read)?;
        let on = |bit: u8| mask & (1 << bit) != 0;
        let mut change = PlayerChange {
            id,
            ..PlayerChange::default()
        };
        if on(0) {
            change.x = Some(element(&mut seq, &mut read)?);
        }
        if on(1) {
            change.y = Some(element(&mut seq, &mut read)?);
        }
        if on(2) {
            change.angle = Some(element(&mut seq, &mut read)?);
        }
        if on(3) {
            change.hp = Some(element(&mut seq, &mut read)?);
        }
        if on(4) {
            change.score = Some(element(&mut seq, &mut read)?);
        }
        if on(5) {
            change.kills = Some(element(&mut seq, &mut read)?);
        }
        if on(6) {
            change.deaths = Some(element(&mut seq, &mut read)?);
        }
        if on(7) {
            change.alive = Some(element(&mut seq, &mut read)?);
        }
        Ok(change)
    }
}

/// The next element of a player change (the `read`-th), which its mask says is there.
fn element<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    read: &mut usize,
) -> Result<T, A::Error> {
    let value = seq
        .next_element()?
        .ok_or_else(|| de::Error::invalid_length(*read, &"the fields its mask names"))?;
    *read += 1;
    Ok(value)
}

/// The change from a base snapshot to the current one (see the module's note).
///
/// Applying it ([`apply`]): drop the base's players in `left`, then apply each change in
/// `players` (a player not there yet is added at the end, from a change that carries every
/// field); the same for projectiles with `gone` and `shots`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDelta {
    /// The phase (as in [`Snapshot::phase`]).
    pub phase: u8,
    /// Seconds left in the phase.
    pub time_left: f32,
    /// Players of the base that are gone (or, rarely, re-added below in a new order).
    pub left: Vec<Pid>,
    /// Players that changed, and new players.
    pub players: Vec<PlayerChange>,
    /// Projectiles of the base that are gone (or, rarely, re-added in a new order).
    pub gone: Vec<u32>,
    /// Projectiles that moved, and new ones.
    pub shots: Vec<Shot>,
    /// Kills of this tick (as in [`Snapshot::kills`]).
    pub kills: Vec<Kill>,
    /// The roster, when the current snapshot carries one.
    pub roster: Option<Vec<RosterEntry>>,
}

/// The change from `base` to `current`.
pub fn diff(base: &Snapshot, current: &Snapshot) -> StateDelta {
    let (left, reordered) = removed(&base.players, &current.players, |p| p.id);
    let players = current
        .players
        .iter()
        .filter_map(|p| {
            let old = base.players.iter().find(|b| b.id == p.id);
            PlayerChange::between(old.filter(|_| !reordered), p)
        })
        .collect();
    let (gone, reordered) = removed(&base.projectiles, &current.projectiles, |s| s.id);
    let shots = current
        .projectiles
        .iter()
        .filter(|s| {
            let old = base.projectiles.iter().find(|b| b.id == s.id);
            old.filter(|_| !reordered)
                .is_none_or(|b| (b.x.to_bits(), b.y.to_bits()) != (s.x.to_bits(), s.y.to_bits()))
        })
        .map(|s| (s.id, s.x, s.y))
        .collect();
    StateDelta {
        phase: current.phase,
        time_left: current.time_left,
        left,
        players,
        gone,
        shots,
        kills: current.kills.clone(),
        roster: current.roster.clone(),
    }
}

/// The snapshot `delta` makes of `base` (the inverse of [`diff`]).
pub fn apply(base: &Snapshot, delta: &StateDelta) -> Snapshot {
    let mut players: Vec<PlayerView> = base
        .players
        .iter()
        .filter(|p| !delta.left.contains(&p.id))
        .cloned()
        .collect();
    for change in &delta.players {
        change.apply_to(entry(
            &mut players,
            change.id,
            |p| p.id,
            || new_player(change.id),
        ));
    }
    let mut projectiles: Vec<ProjectileView> = base
        .projectiles
        .iter()
        .filter(|s| !delta.gone.contains(&s.id))
        .cloned()
        .collect();
    for &(id, x, y) in &delta.shots {
        let s = entry(
            &mut projectiles,
            id,
            |s| s.id,
            || ProjectileView { id, x, y },
        );
        (s.x, s.y) = (x, y);
    }
    Snapshot {
        phase: delta.phase,
        time_left: delta.time_left,
        players,
        projectiles,
        kills: delta.kills.clone(),
        roster: delta.roster.clone(),
    }
}

/// The ids of `base` not in `current`; or, when `current` does not keep the base's order
/// with new items at the end (what [`apply`] makes), every id of `base` and `true`: then
/// everything is sent again, in `current`'s order.
fn removed<T>(base: &[T], current: &[T], id: impl Fn(&T) -> u32) -> (Vec<u32>, bool) {
    let gone: Vec<u32> = base
        .iter()
        .map(&id)
        .filter(|i| !current.iter().any(|c| id(c) == *i))
        .collect();
    let kept = base.iter().map(&id).filter(|i| !gone.contains(i));
    let added = current
        .iter()
        .map(&id)
        .filter(|i| !base.iter().any(|b| id(b) == *i));
    if kept.chain(added).eq(current.iter().map(&id)) {
        (gone, false)
    } else {
        (base.iter().map(&id).collect(), true)
    }
}

/// The item numbered `id` in `items`, added at the end when missing.
fn entry<T>(
    items: &mut Vec<T>,
    id: u32,
    id_of: impl Fn(&T) -> u32,
    make: impl FnOnce() -> T,
) -> &mut T {
    let at = match items.iter().position(|item| id_of(item) == id) {
        Some(at) => at,
        None => {
            items.push(make());
            items.len() - 1
        }
    };
    &mut items[at]
}

fn new_player(id: Pid) -> PlayerView {
    PlayerView {
        id,
        x: 0.0,
        y: 0.0,
        angle: 0.0,
        hp: 0,
        score: 0,
        kills: 0,
        deaths: 0,
        alive: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::bots::{BotBrain, BotView};
    use crate::game::rules::{add_player, remove_player, step};
    use crate::game::state::{Arena, GameState, RoundConfig, Tuning};

    /// Snapshots of a whole match of `bots` bots at 30 Hz (roster twice a second), with a
    /// player joining and one leaving on the way.
    fn played(bots: u32, seed: u64) -> Vec<Snapshot> {
        let round = RoundConfig {
            countdown_secs: 1.0,
            round_secs: 20.0,
            scoreboard_secs: 1.0,
            score_limit: 0,
        };
        let mut state = GameState::new(Arena::standard(), Tuning::default(), round);
        let mut brains = Vec::new();
        for id in 1000..1000 + bots {
            add_player(&mut state, id, &format!("bot {id}"), true);
            brains.push((id, BotBrain::new(seed ^ u64::from(id))));
        }
        let dt = 1.0 / 30.0;
        let mut out = Vec::new();
        for tick in 0u32.. {
            if tick == 90 {
                add_player(&mut state, 1, "late", false);
                brains.push((1, BotBrain::new(seed)));
            }
            if tick == 300 {
                remove_player(&mut state, 1001);
                brains.retain(|(id, _)| *id != 1001);
            }
            let inputs: Vec<_> = brains
                .iter_mut()
                .filter_map(|(id, brain)| {
                    let view = BotView::from_state(&state, *id)?;
                    Some((*id, brain.think(&view, dt)))
                })
                .collect();
            step(&mut state, &inputs, dt);
            out.push(state.snapshot(tick % 15 == 0));
            if state.finished() {
                return out;
            }
        }
        unreachable!("the round ends")
    }

    #[test]
    fn applying_the_diff_of_real_play_gives_the_current_snapshot() {
        for (bots, seed) in [(2, 1), (4, 7), (8, 42)] {
            let snapshots = played(bots, seed);
            assert!(snapshots.len() > 600, "a whole round: {}", snapshots.len());
            let mut kinds = [0usize; 4];
            for (i, current) in snapshots.iter().enumerate() {
                // Bases from 1 to 8 ticks back, as acknowledged over a real round trip.
                for lag in 1..=8.min(i) {
                    let base = &snapshots[i - lag];
                    let delta = diff(base, current);
                    assert_eq!(&apply(base, &delta), current, "tick {i}, base {lag} back");
                    kinds[0] += usize::from(!delta.left.is_empty());
                    kinds[1] += usize::from(delta.players.iter().any(|c| c.hp.is_some()));
                    kinds[2] += usize::from(!delta.gone.is_empty());
                    kinds[3] += usize::from(delta.players.len() < current.players.len());
                }
            }
            // The round exercised every part of the delta.
            assert!(kinds.iter().all(|&n| n > 0), "{bots} bots: {kinds:?}");
        }
    }

    #[test]
    fn the_diff_is_deterministic_and_survives_both_codecs() {
        let (a, b) = (played(4, 3), played(4, 3));
        assert_eq!(a, b, "the same seed plays the same match");
        for i in (1..a.len()).step_by(7) {
            let delta = diff(&a[i - 1], &a[i]);
            assert_eq!(delta, diff(&b[i - 1], &b[i]));
            let json: StateDelta =
                serde_json::from_str(&serde_json::to_string(&delta).unwrap()).unwrap();
            let compact: StateDelta =
                postcard::from_bytes(&postcard::to_allocvec(&delta).unwrap()).unwrap();
            assert_eq!(apply(&a[i - 1], &json), a[i]);
            assert_eq!(apply(&a[i - 1], &compact), a[i]);
        }
    }

    #[test]
    fn a_player_change_carries_only_its_changed_fields() {
        let change = PlayerChange {
            id: 1001,
            x: Some(120.5),
            hp: Some(75),
            ..PlayerChange::default()
        };
        let json = serde_json::to_string(&change).unwrap();
        assert_eq!(json, "[1001,9,120.5,75]");
        assert_eq!(serde_json::from_str::<PlayerChange>(&json).unwrap(), change);
        let bytes = postcard::to_allocvec(&change).unwrap();
        assert_eq!(bytes.len(), 2 + 1 + 4 + 1);
        assert_eq!(
            postcard::from_bytes::<PlayerChange>(&bytes).unwrap(),
            change
        );
        // A mask naming fields that are not there, or fields the mask does not name: errors.
        for bad in ["[1001,9,120.5]", "[1001,1,120.5,75]", "[1001]", "{}"] {
            assert!(serde_json::from_str::<PlayerChange>(bad).is_err(), "{bad}");
        }
        assert!(postcard::from_bytes::<PlayerChange>(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_new_order_is_sent_whole_and_an_unchanged_snapshot_costs_nothing_per_player() {
        let snapshots = played(4, 9);
        let base = &snapshots[100];
        let mut current = base.clone();
        let same = diff(base, &current);
        assert_eq!(same.players.len() + same.shots.len(), 0);
        current.players.reverse();
        current.projectiles.reverse();
        let delta = diff(base, &current);
        assert_eq!(delta.left.len(), base.players.len());
        assert_eq!(delta.players.len(), current.players.len());
        assert!(delta.players.iter().all(|c| c.mask() == 0xff));
        assert_eq!(apply(base, &delta), current);
        // -0.0 and 0.0 are equal numbers but not the same bits: the change is sent.
        let mut signed = base.clone();
        signed.players[0].angle = if base.players[0].angle == 0.0 {
            -0.0
        } else {
            0.0
        };
        let applied = apply(base, &diff(base, &signed));
        assert_eq!(
            applied.players[0].angle.to_bits(),
            signed.players[0].angle.to_bits()
        );
    }
}
