// Two headless Chromium pages play one match of the game at $GAME_URL: both queue and land in
// the same match, one holds a movement key, the other sees that player move. Saves a
// screenshot to artifacts/game.png. Each page renews its guest token over its socket several
// times without reconnecting. Starts no server: run the game binary with
// `--match-size 2 --fill-after 0 --token-lifetime 3` first (tests/browser.rs does).
//
//   GAME_URL=http://127.0.0.1:3000/ node two_players.mjs
//
// Env: GAME_URL (required), CHROMIUM (default /usr/bin/chromium), GAME_CODEC (json|compact:
// forces the page's codec; default: the page's own choice).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const base = process.env.GAME_URL;
if (!base) {
  console.error('GAME_URL is not set (the game server to test, e.g. http://127.0.0.1:3000/)');
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const url = new URL(base);
if (process.env.GAME_CODEC) url.searchParams.set('codec', process.env.GAME_CODEC);
const artifacts = path.join(here, 'artifacts');
fs.mkdirSync(artifacts, { recursive: true });

// Never hang a CI run: the whole script has two minutes.
const guard = setTimeout(() => {
  console.error('browser test: timed out after 120 s');
  process.exit(1);
}, 120_000);
guard.unref();

const log = (...args) => console.log('[browser]', ...args);

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

let failed = false;
try {
  // One context per player: separate storage, like two people.
  const pages = [];
  for (const name of ['Alice', 'Bob']) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') log(`${name} console ${msg.type()}:`, msg.text());
    });
    page.on('pageerror', (err) => log(`${name} page error:`, err.message));
    pages.push({ name, page });
  }

  for (const { name, page } of pages) {
    await page.goto(url.toString());
    await page.waitForSelector('#play:not([disabled])', { timeout: 15_000 });
    await page.fill('#name', name);
    await page.click('#play');
    log(`${name} queued`);
  }

  // Both are matched together and receive snapshots.
  for (const { name, page } of pages) {
    await page.waitForFunction(
      () => window.__game.screen === 'game' && window.__game.me !== null && window.__game.snapshots > 10,
      null,
      { timeout: 20_000 },
    );
    const g = await page.evaluate(() => ({
      me: window.__game.me,
      match: window.__game.matchId,
      codec: window.__game.codec,
      rate: window.__game.tickRate,
    }));
    log(`${name} in match ${g.match} as player ${g.me} (codec ${g.codec}, ${g.rate} Hz)`);
  }
  const [a, b] = pages.map((p) => p.page);
  const matchA = await a.evaluate(() => window.__game.matchId);
  const matchB = await b.evaluate(() => window.__game.matchId);
  if (matchA !== matchB) throw new Error(`not in the same match: ${matchA} vs ${matchB}`);

  // Alice walks towards the middle; Bob must see her move.
  const alice = await a.evaluate(() => window.__game.me);
  const seen = await b.evaluate((id) => ({ ...window.__game.players[id] }), alice);
  const width = await a.evaluate(() => window.__game.arena.width);
  const key = seen.x < width / 2 ? 'KeyD' : 'KeyA';
  log(`Bob sees Alice (player ${alice}) at (${seen.x.toFixed(1)}, ${seen.y.toFixed(1)}); Alice holds ${key}`);
  await a.bringToFront();
  await a.keyboard.down(key);
  await b.waitForFunction(
    ([id, x0]) => {
      const p = window.__game.players[id];
      return p && Math.abs(p.x - x0) > 120;
    },
    [alice, seen.x],
    { timeout: 15_000 },
  );
  await a.keyboard.up(key);
  const after = await b.evaluate((id) => ({ ...window.__game.players[id] }), alice);
  const predicted = await a.evaluate(() => window.__game.predicted);
  log(
    `Bob saw Alice move to (${after.x.toFixed(1)}, ${after.y.toFixed(1)}); ` +
      `Alice's own prediction: (${predicted.x.toFixed(1)}, ${predicted.y.toFixed(1)})`,
  );

  // The prediction converges on the server's position once the inputs are acknowledged.
  await a.waitForFunction(
    () => {
      const g = window.__game;
      const p = g.players[g.me];
      return p && g.predicted && g.pendingInputs < 10 && Math.hypot(p.x - g.predicted.x, p.y - g.predicted.y) < 8;
    },
    null,
    { timeout: 10_000 },
  );

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
  // Wait until shots are in the air, then take the picture from Bob's side.
  await b.waitForFunction(
    () => {
      const last = window.__game;
      return last.snapshots > 0 && last.projectilesInFlight > 2;
    },
    null,
    { timeout: 10_000 },
  );
  const shot = path.join(artifacts, 'game.png');
  await b.screenshot({ path: shot });
  await a.mouse.up();
  await b.mouse.up();
  const stats = await b.evaluate(() => ({
    ping: window.__game.ping,
    rate: window.__game.measuredRate,
    codec: window.__game.codec,
    snapshots: window.__game.snapshots,
    deltas: window.__game.deltas,
    deltasSkipped: window.__game.deltasSkipped,
    errors: window.__game.errors,
  }));
  log(`screenshot: ${shot}; Bob's view: ${JSON.stringify(stats)}`);
  // Both pages acknowledge ticks with their inputs: most states came as deltas.
  for (const { name, page } of pages) {
    const s = await page.evaluate(() => ({ snapshots: window.__game.snapshots, deltas: window.__game.deltas }));
    if (s.deltas < s.snapshots / 2) throw new Error(`${name} applied ${s.deltas} deltas of ${s.snapshots} states`);
  }
  // The server issues 3-second tokens: each page renews over its socket, past several
  // lifetimes, and never reconnects to refresh.
  for (const { name, page } of pages) {
    await page.waitForFunction(() => window.__game.tokenRenewals >= 3, null, { timeout: 15_000 });
    const s = await page.evaluate(() => ({ renewals: window.__game.tokenRenewals, connects: window.__game.connects }));
    if (s.connects !== 1) throw new Error(`${name} connected ${s.connects} times`);
    log(`${name}: ${s.renewals} token renewals on one socket`);
  }
  log('PASS: two pages in one match; one moved, the other saw it');
} catch (error) {
  failed = true;
  console.error('[browser] FAIL:', error && error.stack ? error.stack : error);
  try {
    const contexts = browser.contexts();
    for (let i = 0; i < contexts.length; i++) {
      for (const page of contexts[i].pages()) {
        await page.screenshot({ path: path.join(artifacts, `failure-${i}.png`) });
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
