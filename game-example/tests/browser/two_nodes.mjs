// Two headless Chromium pages, each on its own node of a game cluster, play one match: Alice
// on node A (compact codec), Bob on node B (JSON). Both queue in the cluster's one queue and
// land in the same match (the same cluster match id, shown in both HUDs); each holds a
// movement key in turn and the other sees that player move; a third page watches the match
// from the node that does not host it (through the lobby's list and its Watch button); both
// players shoot. Saves a screenshot to artifacts/two_nodes.png. Starts no server: run two
// game binaries with `--redis <the same URL> --match-size 2 --fill-after 0` first
// (tests/browser.rs does).
//
//   GAME_URL_A=http://127.0.0.1:3000/ GAME_URL_B=http://127.0.0.1:3001/ \
//   GAME_NODE_A=<node id A> GAME_NODE_B=<node id B> node two_nodes.mjs
//
// Env: GAME_URL_A and GAME_URL_B (required), GAME_NODE_A and GAME_NODE_B (required: the node
// ids the servers print, 16 hex digits), CHROMIUM (default /usr/bin/chromium).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set (see the comment at the top of two_nodes.mjs)`);
    process.exit(2);
  }
  return value;
};
const nodes = [
  { url: env('GAME_URL_A'), id: env('GAME_NODE_A') },
  { url: env('GAME_URL_B'), id: env('GAME_NODE_B') },
];
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = path.join(here, 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });

// Never hang a CI run: the whole script has two and a half minutes.
const guard = setTimeout(() => {
  console.error('browser test (two nodes): timed out after 150 s');
  process.exit(1);
}, 150_000);
guard.unref();

const log = (...args) => console.log('[browser]', ...args);

const pageUrl = (node, codec) => {
  const url = new URL(node.url);
  url.searchParams.set('codec', codec);
  return url.toString();
};

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});

// One context per person: separate storage, like different people.
async function openPage(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') log(`${name} console ${msg.type()}:`, msg.text());
  });
  page.on('pageerror', (err) => log(`${name} page error:`, err.message));
  return page;
}

// Hold `key` on `mover` until `watcher` sees the mover's player 120 units from where it was.
async function seenMoving(mover, watcher, moverName, watcherName) {
  const id = await mover.evaluate(() => window.__game.me);
  const seen = await watcher.evaluate((pid) => ({ ...window.__game.players[pid] }), id);
  const width = await mover.evaluate(() => window.__game.arena.width);
  const key = seen.x < width / 2 ? 'KeyD' : 'KeyA';
  log(`${watcherName} sees ${moverName} (player ${id}) at (${seen.x.toFixed(1)}, ${seen.y.toFixed(1)}); ${moverName} holds ${key}`);
  await mover.bringToFront();
  await mover.keyboard.down(key);
  await watcher.waitForFunction(
    ([pid, x0]) => {
      const p = window.__game.players[pid];
      return p && Math.abs(p.x - x0) > 120;
    },
    [id, seen.x],
    { timeout: 15_000 },
  );
  await mover.keyboard.up(key);
  const after = await watcher.evaluate((pid) => ({ ...window.__game.players[pid] }), id);
  log(`${watcherName} saw ${moverName} move to (${after.x.toFixed(1)}, ${after.y.toFixed(1)})`);
}

let failed = false;
try {
  const players = [
    { name: 'Alice', node: nodes[0], codec: 'compact' },
    { name: 'Bob', node: nodes[1], codec: 'json' },
  ];
  for (const p of players) p.page = await openPage(p.name);

  for (const { name, node, codec, page } of players) {
    await page.goto(pageUrl(node, codec));
    await page.waitForSelector('#play:not([disabled])', { timeout: 15_000 });
    await page.fill('#name', name);
    await page.click('#play');
    log(`${name} queued on node ${node.id} (${codec})`);
  }

  // Both are matched together, across the nodes, and receive snapshots.
  for (const { name, codec, page } of players) {
    await page.waitForFunction(
      () => window.__game.screen === 'game' && window.__game.me !== null && window.__game.snapshots > 10,
      null,
      { timeout: 30_000 },
    );
    const g = await page.evaluate(() => ({
      me: window.__game.me,
      match: window.__game.matchId,
      codec: window.__game.codec,
      rate: window.__game.tickRate,
    }));
    log(`${name} in match ${g.match} as player ${g.me} (codec ${g.codec}, ${g.rate} Hz)`);
    if (g.codec !== codec) throw new Error(`${name} speaks ${g.codec}, not ${codec}`);
  }
  const [a, b] = players.map((p) => p.page);
  const matchA = await a.evaluate(() => window.__game.matchId);
  const matchB = await b.evaluate(() => window.__game.matchId);
  if (matchA !== matchB) throw new Error(`not in the same match: ${matchA} vs ${matchB}`);
  const id = matchA;
  const ref = /^([0-9a-f]{16})-(\d+)$/.exec(id);
  if (!ref) throw new Error(`not a cluster match id: ${JSON.stringify(id)}`);
  const host = nodes.find((n) => n.id === ref[1]);
  if (!host) throw new Error(`match ${id} is on neither node (${nodes.map((n) => n.id).join(', ')})`);
  const guest = nodes.find((n) => n !== host);
  log(`match ${id} runs on node ${host.id}`);

  // Both pages show that match id, and both see the two humans, no bot.
  for (const { name, page } of players) {
    await page.waitForFunction(
      (matchId) => document.getElementById('hud-match').textContent.includes(`match #${matchId}`),
      id,
      { timeout: 10_000 },
    );
    await page.waitForFunction(
      () => {
        const g = window.__game;
        const humans = Object.keys(g.players).filter((pid) => g.roster[pid] && !g.roster[pid].bot);
        return Object.keys(g.players).length === 2 && humans.length === 2;
      },
      null,
      { timeout: 10_000 },
    );
    log(`${name}'s HUD: ${await page.textContent('#hud-match')}`);
  }

  // Each moves in turn; the other, on the other node, sees it.
  await seenMoving(a, b, 'Alice', 'Bob');
  await seenMoving(b, a, 'Bob', 'Alice');

  // Alice's prediction converges on the server's position once her inputs are acknowledged
  // (through the other node when node B hosts the match).
  await a.waitForFunction(
    () => {
      const g = window.__game;
      const p = g.players[g.me];
      return p && g.predicted && g.pendingInputs < 10 && Math.hypot(p.x - g.predicted.x, p.y - g.predicted.y) < 8;
    },
    null,
    { timeout: 10_000 },
  );

  // Carol opens the node that does not host the match, finds it in the lobby's list (the
  // cluster's directory) and watches it.
  const c = await openPage('Carol');
  await c.goto(pageUrl(guest, 'compact'));
  const watch = `#matches button[data-watch="${id}"]`;
  await c.waitForSelector(watch, { timeout: 20_000 });
  await c.click(watch);
  await c.waitForFunction(
    (matchId) => {
      const g = window.__game;
      return g.screen === 'game' && g.spectator && g.matchId === matchId && g.snapshots > 5;
    },
    id,
    { timeout: 15_000 },
  );
  await c.waitForFunction(() => Object.keys(window.__game.players).length === 2, null, { timeout: 10_000 });
  log(`Carol watches match ${id} from node ${guest.id}: ${await c.textContent('#hud-match')}`);

  // Once the round is on, both aim at each other and shoot, for the picture.
  await b.waitForFunction(() => window.__game.phase === 1, null, { timeout: 10_000 });
  const aimAtOther = async (page) => {
    const target = await page.evaluate(() => {
      const g = window.__game;
      const other = Object.values(g.players).find((p) => p.id !== g.me);
      const w = innerWidth;
      const h = innerHeight;
      const scale = Math.min((w - 40) / g.arena.width, (h - 40) / g.arena.height);
      const ox = (w - g.arena.width * scale) / 2;
      const oy = (h - g.arena.height * scale) / 2;
      return { x: ox + other.x * scale, y: oy + other.y * scale };
    });
    await page.mouse.move(target.x, target.y);
    await page.mouse.down();
  };
  await aimAtOther(a);
  await aimAtOther(b);
  // Shots in the air, seen on every page (where the players stand, walls may stop them soon:
  // one in flight is enough); then the picture from Bob's side.
  for (const page of [a, c, b]) {
    await page.waitForFunction(() => window.__game.projectilesInFlight > 0, null, { timeout: 10_000 });
  }
  const shot = path.join(artifacts, 'two_nodes.png');
  await b.screenshot({ path: shot });
  await a.mouse.up();
  await b.mouse.up();
  const stats = await Promise.all(
    [a, b, c].map((page) =>
      page.evaluate(() => ({
        ping: window.__game.ping,
        rate: window.__game.measuredRate,
        codec: window.__game.codec,
        snapshots: window.__game.snapshots,
        deltas: window.__game.deltas,
        deltasSkipped: window.__game.deltasSkipped,
        errors: window.__game.errors,
      })),
    ),
  );
  log(`screenshot: ${shot}; Alice, Bob, Carol: ${JSON.stringify(stats)}`);
  // The players acknowledge ticks and get deltas (through the bus on the node that does not
  // host the match); the spectator acknowledges nothing and gets full snapshots.
  for (const [name, s] of [['Alice', stats[0]], ['Bob', stats[1]]]) {
    if (s.deltas < s.snapshots / 2) throw new Error(`${name} applied ${s.deltas} deltas of ${s.snapshots} states`);
  }
  if (stats[2].deltas !== 0) throw new Error(`Carol, watching, applied ${stats[2].deltas} deltas`);
  log('PASS: two pages on two nodes in one match; each saw the other move; a third page watched');
} catch (error) {
  failed = true;
  console.error('[browser] FAIL:', error && error.stack ? error.stack : error);
  try {
    const contexts = browser.contexts();
    for (let i = 0; i < contexts.length; i++) {
      for (const page of contexts[i].pages()) {
        await page.screenshot({ path: path.join(artifacts, `failure-two-nodes-${i}.png`) });
        const state = await page.evaluate(() => JSON.stringify(window.__game)).catch(() => 'n/a');
        console.error(`[browser] page ${i} state: ${state.slice(0, 2000)}`);
      }
    }
  } catch {
    /* best effort */
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
