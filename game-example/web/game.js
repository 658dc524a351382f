// game.js: the arena's browser client. No build step: an ES module served by the game binary.
//
// Flow: name → `queue` → `matched` {token} → `join-match` (ack: your player id, the arena and
// the rules' numbers) → `state` snapshots each tick → scoreboard → `match-ended` → queue again.
//
// Netcode: the local player is predicted: each input (WASD + mouse, ~60 per second, with a
// sequence number and the milliseconds it covers) moves it at once with `movePlayer`, the same
// rules as the server's (src/game/rules.rs, mirrored line by line). Each snapshot carries the
// last input sequence the server applied for us (`acks`): we restart from the server's
// position and replay the inputs it has not applied yet. Other players and projectiles are
// drawn a little in the past, interpolated between the two snapshots around that time.
//
// Deltas: each input also acknowledges the newest tick applied (`[seq, input, tick]`), so the
// server sends `state-delta` (the change from that tick) instead of the whole snapshot; the
// page applies it to the state it kept for the delta's base (delta.js). A delta whose base is
// not kept is skipped: the server sends a full snapshot once that base is too old for it too.
// Spectators send no inputs: they get full snapshots.
//
// Codec: compact (binary, postcard payloads) when /tickwire-compact.js loads and the server
// accepts it; JSON with `?codec=json` (or when compact fails).
//
// Session: the page gets a guest token (`POST /token`) when it loads and connects with it
// (`auth: {token}`); tickwire-auth.js renews it over the socket (`tw:renew`) before it
// expires, so a long session keeps its socket, and every reconnection presents the newest
// token. A token that expired meanwhile (the tab slept) is replaced by a new guest token.

import { connect, jsonParser } from './tickwire-client.js';
import { loadCompactParserFactory } from './codecs.js';
import { TickStates } from './delta.js';
import { REFRESHABLE, createTokenSession } from './tickwire-auth.js';

const PHASE_COUNTDOWN = 0;
const PHASE_PLAYING = 1;
const PHASE_OVER = 2;
const INPUT_INTERVAL_MS = 16;
const MAX_PENDING_INPUTS = 256;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const canvas = $('canvas');
const ctx = canvas.getContext('2d');

// Everything worth looking at from outside (tests, the console): `window.__game`.
const game = {
  screen: 'lobby', // lobby | queue | game | scoreboard
  codec: null,
  connected: false,
  name: '',
  me: null, // our player id
  matchId: null,
  spectator: false,
  tickRate: 0, // configured
  measuredRate: 0, // snapshots per second received
  ping: null, // ms
  phase: null,
  timeLeft: 0,
  players: {}, // id -> latest server view {x, y, angle, hp, score, kills, deaths, alive, name}
  predicted: null, // our predicted position {x, y}
  lastAck: 0,
  pendingInputs: 0,
  snapshots: 0,
  deltas: 0, // of the snapshots, those applied from a delta
  deltasSkipped: 0, // deltas whose base was not kept
  projectilesInFlight: 0,
  roster: {}, // id -> {name, bot}
  arena: null, // the field, from the join reply
  lastScores: null,
  errors: [],
  tokenRenewals: 0, // session tokens renewed over the socket
  connects: 0, // sockets that connected (1 while the page never had to reconnect)
};
window.__game = game;

// ---------------------------------------------------------------------------------------------
// Movement rules, mirrored from src/game/rules.rs (same operations, same order).
// ---------------------------------------------------------------------------------------------

let arena = null;
let tuning = null;

function clamp(v, lo, hi) {
  return Math.min(Math.max(v, lo), hi);
}

function resolveCircle(x, y, r) {
  for (const o of arena.obstacles) {
    const cx = clamp(x, o.x, o.x + o.w);
    const cy = clamp(y, o.y, o.y + o.h);
    const ddx = x - cx;
    const ddy = y - cy;
    const d2 = ddx * ddx + ddy * ddy;
    if (d2 >= r * r) continue;
    if (d2 > 0) {
      const d = Math.sqrt(d2);
      x = cx + (ddx / d) * r;
      y = cy + (ddy / d) * r;
    } else {
      const left = x - o.x;
      const right = o.x + o.w - x;
      const top = y - o.y;
      const bottom = o.y + o.h - y;
      const m = Math.min(Math.min(Math.min(left, right), top), bottom);
      if (m === left) x = o.x - r;
      else if (m === right) x = o.x + o.w + r;
      else if (m === top) y = o.y - r;
      else y = o.y + o.h + r;
    }
  }
  return { x: clamp(x, r, arena.width - r), y: clamp(y, r, arena.height - r) };
}

function movePlayer(pos, input) {
  const secs = Math.min(input.ms, tuning.max_input_ms) / 1000;
  if (secs <= 0 || (input.dx === 0 && input.dy === 0)) return pos;
  let vx = clamp(input.dx, -1, 1);
  let vy = clamp(input.dy, -1, 1);
  if (vx !== 0 && vy !== 0) {
    vx *= Math.SQRT1_2;
    vy *= Math.SQRT1_2;
  }
  const nx = pos.x + vx * tuning.speed * secs;
  const ny = pos.y + vy * tuning.speed * secs;
  return resolveCircle(nx, ny, tuning.player_radius);
}

// ---------------------------------------------------------------------------------------------
// Connection
// ---------------------------------------------------------------------------------------------

let socket = null;
let compactFactory = null;
let seatToken = null;
let reconnectTimer = null;
let session = null; // the session token (tickwire-auth.js)
let staleToken = false; // the server refused or ended the token: get a new one first
let detachSession = null;

async function guestToken() {
  const response = await fetch('/token', { method: 'POST' });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json(); // {token, exp}
}

/** A token to connect with: the current one, or a new guest token if it is stale or old. */
async function freshSession() {
  if (session && !staleToken && session.exp * 1000 > Date.now() + 1000) return session;
  const token = await guestToken();
  staleToken = false;
  if (session) session.update(token);
  else session = createTokenSession(token, { onToken: () => (game.tokenRenewals += 1) });
  return session;
}

async function pickCodec() {
  const wanted = params.get('codec');
  if (wanted === 'json') return 'json';
  try {
    compactFactory = await loadCompactParserFactory('/tickwire-compact.js');
  } catch (e) {
    if (wanted === 'compact') game.errors.push(`compact codec unavailable: ${e.message}`);
    return 'json';
  }
  if (wanted !== 'compact' && sessionStorage.getItem('tickwire-compact-failed') === '1') return 'json';
  return 'compact';
}

function openSocket(codec) {
  freshSession().then(
    () => openSocketWithToken(codec),
    (e) => {
      setConn(`cannot get a session token (${e.message}); retrying…`);
      scheduleReconnect(codec);
    },
  );
}

function openSocketWithToken(codec) {
  game.codec = codec;
  const auth = { token: session.token };
  const opts =
    codec === 'compact'
      ? { parser: compactFactory(), query: { codec: 'compact' }, connectTimeout: 4000, auth }
      : { parser: jsonParser, auth };
  if (detachSession) detachSession();
  const s = connect(location.origin, opts);
  socket = s;
  detachSession = session.attach(s);
  let everConnected = false;
  s.on('connect', () => {
    everConnected = true;
    game.connected = true;
    game.connects += 1;
    setConn(`connected · ${codec}`);
    $('play').disabled = false;
    onReconnected();
  });
  s.on('connect_error', (err) => {
    game.connected = false;
    const code = err.data && err.data.code;
    if (code) {
      // The token was refused: a new guest token cures most reasons, `unavailable` passes by
      // itself; a revoked session ends here.
      if (code === 'revoked') {
        setConn(`signed out (${err.message})`);
        return;
      }
      if (REFRESHABLE.includes(code)) staleToken = true;
      setConn(`session token refused (${err.message}); reconnecting…`);
      scheduleReconnect(codec);
      return;
    }
    if (codec === 'compact' && !everConnected && params.get('codec') !== 'compact') {
      // The server (or this browser) cannot speak compact: remember, and use JSON.
      game.errors.push(`compact codec failed (${err.message}); using JSON`);
      sessionStorage.setItem('tickwire-compact-failed', '1');
      openSocket('json');
      return;
    }
    setConn(`cannot connect (${err.message}); retrying…`);
    scheduleReconnect(codec);
  });
  let signedOut = null;
  s.on('tw:unauthorized', (why) => {
    // The server ends the socket right after this: reconnect with a new token, unless the
    // session was revoked.
    if (why && why.code === 'revoked') signedOut = why.message;
    else staleToken = true;
  });
  s.on('disconnect', (reason) => {
    if (signedOut) {
      game.connected = false;
      $('play').disabled = true;
      setConn(`signed out (${signedOut})`);
      return;
    }
    game.connected = false;
    $('play').disabled = true;
    setConn(`disconnected (${reason}); reconnecting…`);
    scheduleReconnect(codec);
  });
  s.on('matched', onMatched);
  s.on('queue-error', (e) => {
    game.errors.push(e.message);
    showScreen('lobby');
    setConn(`matchmaking failed: ${e.message}`);
  });
  s.on('state', (msg) => {
    if (inMatch() && ticks.full(Number(msg.tick), msg.state)) onState(msg);
  });
  s.on('state-delta', (msg) => {
    if (!inMatch()) return;
    const state = ticks.delta(Number(msg.tick), Number(msg.base), msg.delta);
    if (state === null) {
      game.deltasSkipped += 1;
      return;
    }
    game.deltas += 1;
    onState({ tick: msg.tick, acks: msg.acks, state });
  });
  s.on('match-ended', onMatchEnded);
}

function scheduleReconnect(codec) {
  clearTimeout(reconnectTimer);
  reconnectTimer = setTimeout(() => openSocket(codec), 1500);
}

function onReconnected() {
  // Back after a drop: take our seat again (the match keeps it for a while), or re-queue.
  if (game.screen === 'game' && seatToken && !game.spectator) {
    socket.emitWithAck('join-match', { token: seatToken }).then(onJoinReply, () => showScreen('lobby'));
  } else if (game.screen === 'queue') {
    socket.emit('queue', { name: game.name });
  } else if (game.screen === 'game') {
    showScreen('lobby');
  }
}

function setConn(text) {
  $('conn').textContent = text;
}

// ---------------------------------------------------------------------------------------------
// Screens and lobby
// ---------------------------------------------------------------------------------------------

function showScreen(screen) {
  game.screen = screen;
  $('lobby').classList.toggle('hidden', screen !== 'lobby');
  $('queue').classList.toggle('hidden', screen !== 'queue');
  $('scoreboard').classList.toggle('hidden', screen !== 'scoreboard');
  const inGame = screen === 'game' || screen === 'scoreboard';
  for (const id of ['hud-left', 'hud-right', 'help']) $(id).classList.toggle('hidden', !inGame);
  if (screen === 'lobby') refreshMatches();
}

function queueUp() {
  leaveMatchState();
  showScreen('queue');
  queuedAt = performance.now();
  socket.emit('queue', { name: game.name });
}

let queuedAt = 0;

$('name').value = localStorage.getItem('tickwire-name') || '';
$('name-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  game.name = $('name').value.trim() || 'player';
  localStorage.setItem('tickwire-name', game.name);
  queueUp();
});
$('cancel').addEventListener('click', () => {
  socket.emitWithAck('leave').catch(() => {});
  showScreen('lobby');
});
$('to-lobby').addEventListener('click', () => {
  socket.emitWithAck('leave').catch(() => {});
  leaveMatchState();
  showScreen('lobby');
});

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function refreshMatches() {
  if (!socket || !game.connected || game.screen !== 'lobby') return;
  let list;
  try {
    list = await socket.emitWithAck('matches');
  } catch {
    return;
  }
  if (!Array.isArray(list) || list.length === 0) {
    $('matches').innerHTML = '';
    return;
  }
  const items = list
    .map((m) => {
      const names = m.players.map((p) => `${escapeHtml(p.name)} ${p.score}`).join(', ');
      const id = escapeHtml(m.id);
      return `<li><span>#${id} · ${phaseName(m.phase)} · ${Math.ceil(m.time_left)} s · ${names}</span>
        <button class="secondary" data-watch="${id}">Watch</button></li>`;
    })
    .join('');
  $('matches').innerHTML = `<div>Live matches</div><ul>${items}</ul>`;
}
$('matches').addEventListener('click', (ev) => {
  const id = ev.target && ev.target.dataset && ev.target.dataset.watch;
  if (!id) return;
  leaveMatchState();
  // Match ids are opaque strings (in a cluster: "<node>-<id>"); send it back as listed.
  socket.emitWithAck('spectate', { match_id: id }).then(onJoinReply, (e) => game.errors.push(e.message));
});
setInterval(refreshMatches, 3000);

function phaseName(phase) {
  return phase === PHASE_COUNTDOWN ? 'starting' : phase === PHASE_PLAYING ? 'playing' : 'scoreboard';
}

// ---------------------------------------------------------------------------------------------
// Match
// ---------------------------------------------------------------------------------------------

let seq = 0;
let pending = []; // inputs sent and not yet applied by the server: {seq, input}
let buffer = []; // recent snapshots: {tick, state}
const ticks = new TickStates(64); // states applied by tick: delta bases (the server keeps 8+)
let clockOffset = null; // ms: arrival time − server time, the least delayed seen
let visualOffset = { x: 0, y: 0 }; // smooths corrections of our prediction
let myAlive = false;
let rateWindow = [];
const feed = [];

function leaveMatchState() {
  seatToken = null;
  game.me = null;
  game.matchId = null;
  game.spectator = false;
  game.predicted = null;
  game.players = {};
  game.phase = null;
  pending = [];
  buffer = [];
  ticks.clear();
  clockOffset = null;
  colorSlots.clear();
}

function onMatched(m) {
  seatToken = m.token;
  socket.emitWithAck('join-match', { token: m.token }).then(onJoinReply, (e) => {
    game.errors.push(`join failed: ${e.message}`);
    queueUp();
  });
}

function onJoinReply(reply) {
  if (!reply || !reply.joined) {
    game.errors.push(`seat refused: ${reply && reply.error}`);
    showScreen('lobby');
    return;
  }
  const j = reply.joined;
  arena = j.arena;
  tuning = j.tuning;
  game.arena = arena;
  game.me = j.player;
  game.matchId = j.match_id;
  game.spectator = j.spectator;
  game.tickRate = j.tick_rate;
  showScreen('game');
  $('help').textContent = j.spectator
    ? 'spectating · Esc: back to the lobby'
    : 'WASD / arrows: move · mouse: aim · click or space: shoot · Esc: leave';
}

function inMatch() {
  return (game.screen === 'game' || game.screen === 'scoreboard') && arena !== null;
}

function onState(msg) {
  if (!inMatch()) return;
  const now = performance.now();
  const st = msg.state;
  const tick = Number(msg.tick);
  game.snapshots += 1;
  rateWindow.push(now);
  while (rateWindow.length && rateWindow[0] < now - 1000) rateWindow.shift();
  game.measuredRate = rateWindow.length;

  if (st.roster) {
    game.roster = {};
    for (const r of st.roster) game.roster[r.id] = { name: r.name, bot: r.bot };
  }
  const period = 1000 / (game.tickRate || 30);
  const serverTime = tick * period;
  const candidate = now - serverTime;
  if (clockOffset === null || candidate < clockOffset) clockOffset = candidate;
  else clockOffset += (candidate - clockOffset) * 0.02;
  buffer.push({ tick, state: st });
  if (buffer.length > 60) buffer.shift();

  game.phase = st.phase;
  game.timeLeft = st.time_left;
  game.projectilesInFlight = st.projectiles.length;
  const players = {};
  for (const p of st.players) {
    players[p.id] = { ...p, name: (game.roster[p.id] || {}).name || `#${p.id}` };
  }
  game.players = players;

  // Reconcile our prediction.
  if (!game.spectator && game.me !== null) {
    const mine = st.players.find((p) => p.id === game.me);
    const ack = (msg.acks.find((a) => a[0] === game.me) || [0, 0])[1];
    game.lastAck = ack;
    pending = pending.filter((p) => p.seq > ack);
    game.pendingInputs = pending.length;
    if (mine) {
      let pos = { x: mine.x, y: mine.y };
      if (mine.alive && st.phase !== PHASE_OVER) {
        for (const p of pending) pos = movePlayer(pos, p.input);
      }
      if (game.predicted && mine.alive && myAlive) {
        const ex = game.predicted.x + visualOffset.x - pos.x;
        const ey = game.predicted.y + visualOffset.y - pos.y;
        // Small corrections are eased in; large ones (respawn, teleport) snap.
        visualOffset = Math.hypot(ex, ey) < 60 ? { x: ex, y: ey } : { x: 0, y: 0 };
      } else {
        visualOffset = { x: 0, y: 0 };
      }
      game.predicted = pos;
      myAlive = mine.alive;
    }
  }

  for (const k of st.kills) {
    const killer = (game.roster[k.killer] || {}).name || `#${k.killer}`;
    const victim = (game.roster[k.victim] || {}).name || `#${k.victim}`;
    feed.push({ text: `${killer} ✦ ${victim}`, at: now });
  }
  while (feed.length > 5) feed.shift();

  if (st.phase === PHASE_OVER) showScoreboard(st);
}

function scoreRows(st) {
  return [...st.players]
    .sort((a, b) => b.score - a.score || b.kills - a.kills || a.id - b.id)
    .map((p) => {
      const r = game.roster[p.id] || { name: `#${p.id}`, bot: false };
      const me = p.id === game.me && !game.spectator ? ' class="me"' : '';
      return `<tr${me}><td>${escapeHtml(r.name)}</td><td>${p.score}</td><td>${p.kills}</td><td>${p.deaths}</td></tr>`;
    })
    .join('');
}

function showScoreboard(st) {
  const table = `<table><tr><th>player</th><th>score</th><th>kills</th><th>deaths</th></tr>${scoreRows(st)}</table>`;
  game.lastScores = st.players.map((p) => ({ id: p.id, score: p.score }));
  $('scores').innerHTML = table;
  $('last-scores').innerHTML = `<p>Last round</p>${table}`;
  $('scoreboard-note').textContent = game.spectator
    ? 'The match is over.'
    : `Back to the queue in ${Math.ceil(st.time_left)} s…`;
  if (game.screen !== 'scoreboard') showScreen('scoreboard');
}

function onMatchEnded(reason) {
  const wasSpectator = game.spectator;
  const wasPlaying = game.screen === 'game' || game.screen === 'scoreboard';
  leaveMatchState();
  if (!wasPlaying) return;
  if (reason === 'server shutting down') {
    setConn('the server is shutting down');
    showScreen('lobby');
  } else if (wasSpectator) {
    showScreen('lobby');
  } else {
    queueUp();
  }
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

const keys = new Set();
const mouse = { x: 0, y: 0, down: false };
const GAME_KEYS = new Set(['KeyW', 'KeyA', 'KeyS', 'KeyD', 'ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Space']);

addEventListener('keydown', (ev) => {
  if (game.screen !== 'game') return;
  if (ev.code === 'Escape') {
    // Leave the match (players give up their seat) and go back to the lobby.
    socket.emitWithAck('leave').catch(() => {});
    leaveMatchState();
    showScreen('lobby');
    return;
  }
  if (GAME_KEYS.has(ev.code)) ev.preventDefault();
  keys.add(ev.code);
});
addEventListener('keyup', (ev) => keys.delete(ev.code));
addEventListener('blur', () => {
  keys.clear();
  mouse.down = false;
});
canvas.addEventListener('mousemove', (ev) => {
  mouse.x = ev.clientX;
  mouse.y = ev.clientY;
});
canvas.addEventListener('mousedown', () => (mouse.down = true));
addEventListener('mouseup', () => (mouse.down = false));

let lastInputAt = performance.now();
let lastAim = 0;

function sampleInput(now) {
  const elapsed = now - lastInputAt;
  lastInputAt = now;
  const right = keys.has('KeyD') || keys.has('ArrowRight');
  const left = keys.has('KeyA') || keys.has('ArrowLeft');
  const down = keys.has('KeyS') || keys.has('ArrowDown');
  const up = keys.has('KeyW') || keys.has('ArrowUp');
  if (game.predicted) {
    const world = screenToWorld(mouse.x, mouse.y);
    const me = { x: game.predicted.x + visualOffset.x, y: game.predicted.y + visualOffset.y };
    if (Math.hypot(world.x - me.x, world.y - me.y) > 1) lastAim = Math.atan2(world.y - me.y, world.x - me.x);
  }
  return {
    dx: (right ? 1 : 0) - (left ? 1 : 0),
    dy: (down ? 1 : 0) - (up ? 1 : 0),
    aim: lastAim,
    fire: mouse.down || keys.has('Space'),
    ms: clamp(Math.round(elapsed), 1, tuning.max_input_ms),
  };
}

// Inputs on a timer rather than per animation frame, so a hidden tab keeps a steady rate.
setInterval(() => {
  const now = performance.now();
  if (game.screen !== 'game' || game.spectator || !tuning || !socket || !game.connected || game.me === null) {
    lastInputAt = now;
    return;
  }
  const input = sampleInput(now);
  seq += 1;
  pending.push({ seq, input });
  if (pending.length > MAX_PENDING_INPUTS) pending.shift();
  if (game.predicted && myAlive && game.phase !== PHASE_OVER) {
    game.predicted = movePlayer(game.predicted, input);
  }
  const tick = ticks.ack();
  socket.emit('input', tick === null ? [seq, input] : [seq, input, tick]);
}, INPUT_INTERVAL_MS);

// Ping: an acked round trip every 2 s.
let rttNonce = 0;
setInterval(async () => {
  if (!socket || !game.connected) return;
  const started = performance.now();
  rttNonce = (rttNonce + 1) % 1_000_000;
  try {
    await socket.emitWithAck('rtt', rttNonce);
    const ms = performance.now() - started;
    game.ping = game.ping === null ? ms : game.ping * 0.7 + ms * 0.3;
  } catch {
    /* disconnected or slow: keep the last value */
  }
}, 2000);

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

let view = { scale: 1, ox: 0, oy: 0 };

function resize() {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(innerWidth * dpr);
  canvas.height = Math.round(innerHeight * dpr);
}
addEventListener('resize', resize);
resize();

function screenToWorld(sx, sy) {
  const dpr = window.devicePixelRatio || 1;
  return { x: (sx * dpr - view.ox) / view.scale, y: (sy * dpr - view.oy) / view.scale };
}

const PALETTE = ['#4fc3f7', '#ff7043', '#9ccc65', '#ba68c8', '#ffd54f', '#f06292', '#4db6ac', '#a1887f'];
const colorSlots = new Map();

function colorOf(id) {
  if (!colorSlots.has(id)) colorSlots.set(id, colorSlots.size % PALETTE.length);
  return PALETTE[colorSlots.get(id)];
}

function lerp(a, b, t) {
  return a + (b - a) * t;
}

function lerpAngle(a, b, t) {
  let d = b - a;
  while (d > Math.PI) d -= 2 * Math.PI;
  while (d < -Math.PI) d += 2 * Math.PI;
  return a + d * t;
}

/** Players and projectiles as they were `delay` ms ago, between two snapshots. */
function interpolated(now) {
  if (buffer.length === 0) return null;
  const period = 1000 / (game.tickRate || 30);
  const delay = Math.max(100, 2.5 * period);
  const t = now - clockOffset - delay;
  let a = buffer[0];
  let b = buffer[buffer.length - 1];
  for (let i = buffer.length - 1; i > 0; i--) {
    if (buffer[i - 1].tick * period <= t) {
      a = buffer[i - 1];
      b = buffer[i];
      break;
    }
  }
  const span = (b.tick - a.tick) * period;
  const f = span > 0 ? clamp((t - a.tick * period) / span, 0, 1) : 1;
  const before = new Map(a.state.players.map((p) => [p.id, p]));
  const players = b.state.players.map((p) => {
    const q = before.get(p.id);
    if (!q || q.alive !== p.alive) return p;
    return { ...p, x: lerp(q.x, p.x, f), y: lerp(q.y, p.y, f), angle: lerpAngle(q.angle, p.angle, f) };
  });
  const shots = new Map(a.state.projectiles.map((s) => [s.id, s]));
  const projectiles = b.state.projectiles.map((s) => {
    const q = shots.get(s.id);
    return q ? { x: lerp(q.x, s.x, f), y: lerp(q.y, s.y, f) } : s;
  });
  return { players, projectiles };
}

function drawArena() {
  ctx.fillStyle = '#131b26';
  ctx.fillRect(0, 0, arena.width, arena.height);
  ctx.strokeStyle = '#1b2634';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let x = 0; x <= arena.width; x += 50) {
    ctx.moveTo(x, 0);
    ctx.lineTo(x, arena.height);
  }
  for (let y = 0; y <= arena.height; y += 50) {
    ctx.moveTo(0, y);
    ctx.lineTo(arena.width, y);
  }
  ctx.stroke();
  for (const o of arena.obstacles) {
    ctx.fillStyle = '#2b3a4f';
    ctx.fillRect(o.x, o.y, o.w, o.h);
    ctx.strokeStyle = '#4a6382';
    ctx.lineWidth = 3;
    ctx.strokeRect(o.x + 1.5, o.y + 1.5, o.w - 3, o.h - 3);
  }
  ctx.strokeStyle = '#ffb000';
  ctx.lineWidth = 4;
  ctx.strokeRect(2, 2, arena.width - 4, arena.height - 4);
}

function drawPlayer(p, isMe) {
  const r = tuning.player_radius;
  ctx.save();
  ctx.translate(p.x, p.y);
  ctx.rotate(p.angle);
  ctx.fillStyle = '#0b0f14';
  ctx.fillRect(r * 0.3, -4, r + 8, 8);
  ctx.restore();
  ctx.beginPath();
  ctx.arc(p.x, p.y, r, 0, Math.PI * 2);
  ctx.fillStyle = colorOf(p.id);
  ctx.fill();
  ctx.lineWidth = isMe ? 4 : 2;
  ctx.strokeStyle = isMe ? '#ffffff' : '#0b0f14';
  ctx.stroke();
  const name = (game.roster[p.id] || {}).name || `#${p.id}`;
  ctx.font = '600 16px system-ui, sans-serif';
  ctx.textAlign = 'center';
  ctx.fillStyle = isMe ? '#ffb000' : '#dfe6ee';
  ctx.fillText(name, p.x, p.y - r - 14);
  const w = 40;
  ctx.fillStyle = '#0b0f14';
  ctx.fillRect(p.x - w / 2, p.y - r - 10, w, 5);
  ctx.fillStyle = p.hp > 50 ? '#5fd35f' : p.hp > 25 ? '#ffb000' : '#ff4d4d';
  ctx.fillRect(p.x - w / 2, p.y - r - 10, (w * p.hp) / tuning.max_hp, 5);
}

function render(now) {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = '#0d1117';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const inGame = (game.screen === 'game' || game.screen === 'scoreboard') && arena;
  if (!inGame) {
    drawIdle(now);
    return;
  }
  const margin = 20;
  const scale = Math.min((canvas.width - 2 * margin) / arena.width, (canvas.height - 2 * margin) / arena.height);
  view = { scale, ox: (canvas.width - arena.width * scale) / 2, oy: (canvas.height - arena.height * scale) / 2 };
  ctx.setTransform(scale, 0, 0, scale, view.ox, view.oy);
  drawArena();
  const snap = interpolated(now);
  if (snap) {
    ctx.fillStyle = '#fff3b0';
    for (const s of snap.projectiles) {
      ctx.beginPath();
      ctx.arc(s.x, s.y, tuning.projectile_radius + 2, 0, Math.PI * 2);
      ctx.fill();
    }
    for (const p of snap.players) {
      if (!p.alive) continue;
      if (p.id === game.me && !game.spectator && game.predicted) {
        visualOffset.x *= 0.85;
        visualOffset.y *= 0.85;
        drawPlayer({ ...p, x: game.predicted.x + visualOffset.x, y: game.predicted.y + visualOffset.y, angle: lastAim }, true);
      } else {
        drawPlayer(p, false);
      }
    }
  }
  drawHud(now);
}

function drawIdle(now) {
  // A slow field of dots behind the lobby.
  const t = now / 4000;
  ctx.fillStyle = '#1b2634';
  for (let i = 0; i < 80; i++) {
    const x = ((i * 97.3 + t * 40 * (1 + (i % 3))) % canvas.width + canvas.width) % canvas.width;
    const y = (i * 53.7) % canvas.height;
    ctx.fillRect(x, y, 3, 3);
  }
}

function fmtTime(secs) {
  const s = Math.max(0, Math.ceil(secs));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function drawHud(now) {
  const me = game.players[game.me];
  $('hud-time').textContent =
    game.phase === PHASE_COUNTDOWN
      ? `starts in ${Math.ceil(game.timeLeft)}`
      : game.phase === PHASE_OVER
        ? 'round over'
        : fmtTime(game.timeLeft);
  $('hud-me').textContent = game.spectator
    ? 'spectating'
    : me
      ? `${me.alive ? `HP ${me.hp}` : 'respawning…'} · score ${me.score} · ${me.kills} kills`
      : '';
  const ping = game.ping === null ? '–' : `${Math.round(game.ping)} ms`;
  const deltas = game.snapshots ? Math.round((100 * game.deltas) / game.snapshots) : 0;
  $('hud-net').textContent = `ping ${ping} · tick ${game.measuredRate}/${game.tickRate} Hz · ${game.codec} · deltas ${deltas}%`;
  $('hud-match').textContent = `match #${game.matchId} · unacked inputs ${pending.length}`;
  const banner = $('banner');
  if (game.phase === PHASE_COUNTDOWN) {
    banner.textContent = `Get ready… ${Math.ceil(game.timeLeft)}`;
    banner.classList.remove('hidden');
  } else if (me && !me.alive && !game.spectator && game.phase === PHASE_PLAYING) {
    banner.textContent = 'You were hit — respawning';
    banner.classList.remove('hidden');
  } else {
    banner.classList.add('hidden');
  }
  const recent = feed.filter((f) => now - f.at < 5000);
  $('feed').innerHTML = recent.map((f) => `<div>${escapeHtml(f.text)}</div>`).join('');
}

function frame(now) {
  if (game.screen === 'queue') {
    const waited = Math.floor((now - queuedAt) / 1000);
    $('queue-status').textContent = `in the queue for ${waited} s`;
  }
  render(now);
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------------------------

pickCodec().then((codec) => {
  openSocket(codec);
  requestAnimationFrame(frame);
});
