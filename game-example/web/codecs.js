// codecs.js: the game's payload types for the compact codec, and the parser factory.
//
// The compact codec sends postcard payloads, which carry no field names or types: both sides
// must agree on each event's shape. These declarations mirror the Rust structs in
// game-example/src/wire.rs and src/game/state.rs field by field, in declaration order (the
// Rust test `tests/compact_schemas.rs` checks them against bytes written by Rust).
//
// Match ids are strings: `"7"` on one node, `"<node, 16 hex digits>-<id>"` in a cluster.

/**
 * The game's events for `createParser({ events })` of tickwire-compact.js.
 * @param {object} t the module's `types`
 */
export function gameEvents(t) {
  const Input = t.struct({ dx: t.i8, dy: t.i8, aim: t.f32, fire: t.bool, ms: t.u8 });
  const PlayerView = t.struct({
    id: t.u32,
    x: t.f32,
    y: t.f32,
    angle: t.f32,
    hp: t.u8,
    score: t.u32,
    kills: t.u16,
    deaths: t.u16,
    alive: t.bool,
  });
  const ProjectileView = t.struct({ id: t.u32, x: t.f32, y: t.f32 });
  const Kill = t.struct({ killer: t.u32, victim: t.u32 });
  const RosterEntry = t.struct({ id: t.u32, name: t.string, bot: t.bool });
  const Snapshot = t.struct({
    phase: t.u8,
    time_left: t.f32,
    players: t.vec(PlayerView),
    projectiles: t.vec(ProjectileView),
    kills: t.vec(Kill),
    roster: t.option(t.vec(RosterEntry)),
  });
  // The runtime's SnapshotEnvelope around it.
  const SnapshotMsg = t.struct({
    tick: t.u53,
    acks: t.vec(t.tuple(t.u32, t.u32)),
    state: Snapshot,
  });
  // src/game/delta.rs PlayerChange: [id, mask, fields...], the mask naming the fields that
  // follow (bit 0 x, 1 y, 2 angle, 3 hp, 4 score, 5 kills, 6 deaths, 7 alive).
  const changeFields = [t.f32, t.f32, t.f32, t.u8, t.u32, t.u16, t.u16, t.bool];
  const PlayerChange = {
    encode(w, v) {
      const [id, mask] = v;
      t.u32.encode(w, id);
      t.u8.encode(w, mask);
      let i = 2;
      changeFields.forEach((codec, bit) => {
        if (mask & (1 << bit)) codec.encode(w, v[i++]);
      });
      if (i !== v.length) throw new TypeError('a player change has the fields its mask names');
    },
    decode(r) {
      const out = [t.u32.decode(r), t.u8.decode(r)];
      changeFields.forEach((codec, bit) => {
        if (out[1] & (1 << bit)) out.push(codec.decode(r));
      });
      return out;
    },
  };
  // src/game/delta.rs StateDelta, in the runtime's DeltaEnvelope.
  const StateDelta = t.struct({
    phase: t.u8,
    time_left: t.f32,
    left: t.vec(t.u32),
    players: t.vec(PlayerChange),
    gone: t.vec(t.u32),
    shots: t.vec(t.tuple(t.u32, t.f32, t.f32)),
    kills: t.vec(Kill),
    roster: t.option(t.vec(RosterEntry)),
  });
  const DeltaMsg = t.struct({
    tick: t.u53,
    base: t.u53,
    acks: t.vec(t.tuple(t.u32, t.u32)),
    delta: StateDelta,
  });
  // `[seq, input]`, or `[seq, input, tick]` acknowledging the newest tick applied: postcard
  // `(seq, input)` with the tick (a u64) after it when there is one.
  const InputMsg = {
    encode(w, v) {
      if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3)) {
        throw new TypeError('an input is [seq, input] or [seq, input, tick]');
      }
      t.u32.encode(w, v[0]);
      Input.encode(w, v[1]);
      if (v.length === 3) t.u53.encode(w, v[2]);
    },
    decode(r) {
      const out = [t.u32.decode(r), Input.decode(r)];
      if (r.remaining() > 0) out.push(t.u53.decode(r));
      return out;
    },
  };
  const Rect = t.struct({ x: t.f64, y: t.f64, w: t.f64, h: t.f64 });
  const Arena = t.struct({
    width: t.f64,
    height: t.f64,
    obstacles: t.vec(Rect),
    spawns: t.vec(t.tuple(t.f64, t.f64)),
  });
  const Tuning = t.struct({
    player_radius: t.f64,
    speed: t.f64,
    projectile_speed: t.f64,
    projectile_radius: t.f64,
    projectile_life: t.f64,
    fire_cooldown: t.f64,
    damage: t.u8,
    max_hp: t.u8,
    respawn_delay: t.f64,
    hit_points: t.u32,
    kill_bonus: t.u32,
    max_input_ms: t.u8,
    max_move_budget: t.f64,
  });
  const Joined = t.struct({
    player: t.u32,
    match_id: t.string,
    spectator: t.bool,
    tick_rate: t.u32,
    arena: Arena,
    tuning: Tuning,
  });
  const JoinReply = t.struct({ error: t.option(t.string), joined: t.option(Joined) });
  const ScoreLine = t.struct({ id: t.u32, name: t.string, score: t.u32, bot: t.bool });
  const MatchSummary = t.struct({
    id: t.string,
    phase: t.u8,
    time_left: t.f32,
    players: t.vec(ScoreLine),
    spectators: t.u32,
  });
  return {
    // client -> server
    queue: t.struct({ name: t.string }),
    'join-match': { payload: t.struct({ token: t.string }), ack: JoinReply },
    spectate: { payload: t.struct({ match_id: t.string }), ack: JoinReply },
    input: InputMsg,
    leave: { payload: null, ack: t.bool },
    matches: { payload: null, ack: t.vec(MatchSummary) },
    rtt: { payload: t.u32, ack: t.u32 },
    // server -> client
    matched: t.struct({ token: t.string, match_id: t.string, bots: t.u32 }),
    'queue-error': t.struct({ message: t.string }),
    state: SnapshotMsg,
    'state-delta': DeltaMsg,
    'match-ended': t.string,
    // session tokens (the runtime's auth layer; tickwire-auth.js renews)
    'tw:renew': {
      payload: null,
      ack: t.struct({ token: t.string, exp: t.u53, error: t.string, message: t.string }),
    },
    'tw:unauthorized': t.struct({ code: t.string, message: t.string }),
  };
}

/**
 * Load the compact codec module and return a factory of parsers for tickwire-client.js (one
 * parser per connection: it pairs ack ids with their events). Throws when the module is
 * missing or unusable.
 * @param {string} url where the server serves tickwire-compact.js
 */
export async function loadCompactParserFactory(url) {
  const mod = await import(url);
  if (typeof mod.createParser !== 'function' || !mod.types) {
    throw new Error('tickwire-compact.js has no createParser/types');
  }
  const events = gameEvents(mod.types);
  return () => {
    const pair = mod.createParser({ events });
    const encoder = new pair.Encoder();
    const decoder = new pair.Decoder();
    return {
      name: 'compact',
      // One frame per packet: a Uint8Array, sent as a binary WebSocket message.
      encode: (packet) => encoder.encode(packet)[0],
      decode: (frame) => decoder.decode(frame),
    };
  };
}
