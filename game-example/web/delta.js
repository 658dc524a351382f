// delta.js: delta snapshots on the page. The match sends `state` (a full snapshot) or, once we
// acknowledge a tick with our inputs (`[seq, input, tick]`), `state-delta` (`{tick, base, acks,
// delta}`: the change from `base`, a tick we acknowledged). `applyDelta` mirrors `apply` in
// src/game/delta.rs step by step; `TickStates` keeps the last states applied by tick, so a
// delta finds its base, and says which tick to acknowledge.
//
// The delta (src/game/delta.rs `StateDelta`): {phase, time_left, left: [id], players:
// [[id, mask, fields...]], gone: [id], shots: [[id, x, y]], kills, roster}. Players in `left`
// are dropped; each player change sets the fields its mask names (bit 0 x, 1 y, 2 angle, 3 hp,
// 4 score, 5 kills, 6 deaths, 7 alive), adding the player at the end when it is not there yet;
// the same for projectiles with `gone` and `shots`.

const CHANGE_FIELDS = ['x', 'y', 'angle', 'hp', 'score', 'kills', 'deaths', 'alive'];

/** The item numbered `id` in `items`, added at the end (made by `make`) when missing. */
function entry(items, id, make) {
  let item = items.find((it) => it.id === id);
  if (!item) {
    item = make();
    items.push(item);
  }
  return item;
}

function newPlayer(id) {
  return { id, x: 0, y: 0, angle: 0, hp: 0, score: 0, kills: 0, deaths: 0, alive: false };
}

/**
 * The snapshot `delta` makes of `base` (neither is changed).
 * @param {object} base a snapshot ({phase, time_left, players, projectiles, kills, roster})
 * @param {object} delta a StateDelta
 */
export function applyDelta(base, delta) {
  const left = new Set(delta.left);
  const players = base.players.filter((p) => !left.has(p.id)).map((p) => ({ ...p }));
  for (const change of delta.players) {
    const [id, mask] = change;
    const p = entry(players, id, () => newPlayer(id));
    let i = 2;
    CHANGE_FIELDS.forEach((field, bit) => {
      if (mask & (1 << bit)) p[field] = change[i++];
    });
  }
  const gone = new Set(delta.gone);
  const projectiles = base.projectiles.filter((s) => !gone.has(s.id)).map((s) => ({ ...s }));
  for (const [id, x, y] of delta.shots) {
    Object.assign(entry(projectiles, id, () => ({ id, x, y })), { x, y });
  }
  return {
    phase: delta.phase,
    time_left: delta.time_left,
    players,
    projectiles,
    kills: delta.kills,
    roster: delta.roster,
  };
}

/** The last states applied, by tick (newest last), and the tick to acknowledge. */
export class TickStates {
  /** @param {number} keep states kept (more than the server keeps as bases) */
  constructor(keep) {
    this.keep = Math.max(1, keep);
    this.applied = []; // [{tick, state}], ticks increasing
  }

  /** Forget everything (a new match). */
  clear() {
    this.applied = [];
  }

  /** The newest tick applied (to acknowledge), or null. */
  ack() {
    return this.applied.length ? this.applied[this.applied.length - 1].tick : null;
  }

  /** Keep the full snapshot of `tick`; false (nothing kept) when it is not newer. */
  full(tick, state) {
    const newest = this.ack();
    if (newest !== null && tick <= newest) return false;
    this.applied.push({ tick, state });
    if (this.applied.length > this.keep) this.applied.shift();
    return true;
  }

  /**
   * Apply the delta from `base` to `tick`: the new state, or null (nothing applied) when
   * `tick` is not newer or the state of `base` is not kept (then the page waits: the server
   * sends a full snapshot once that base is too old for it too).
   */
  delta(tick, base, delta) {
    const newest = this.ack();
    if (newest !== null && tick <= newest) return null;
    const from = this.applied.find((a) => a.tick === base);
    if (!from) return null;
    const state = applyDelta(from.state, delta);
    this.full(tick, state);
    return state;
  }
}
