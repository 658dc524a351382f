// Interop checks: the official `socket.io-client` (npm) against a running tickwire
// conformance server (`runtime/examples/conformance.rs`).
//
//   TICKWIRE_URL         server base URL, e.g. http://127.0.0.1:3000 (required)
//   TICKWIRE_TRANSPORTS  websocket | polling | upgrade (default: websocket)
//                        upgrade = ["polling", "websocket"] and the upgrade must happen
//   TICKWIRE_INTEROP_TIMEOUT_MS  hard limit for the whole run (default: 50000)
//
// Run: `node interop.mjs` (after `npm ci`). Exits non-zero on any failure.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { io, Manager } from "socket.io-client";

const URL = (process.env.TICKWIRE_URL ?? "").replace(/\/+$/, "");
const MODE = process.env.TICKWIRE_TRANSPORTS ?? "websocket";
const TRANSPORTS = {
  websocket: ["websocket"],
  polling: ["polling"],
  upgrade: ["polling", "websocket"],
}[MODE];

if (!URL) {
  console.error("interop: TICKWIRE_URL is not set (e.g. http://127.0.0.1:3000)");
  process.exit(2);
}
if (!TRANSPORTS) {
  console.error(`interop: TICKWIRE_TRANSPORTS must be websocket, polling or upgrade, got ${MODE}`);
  process.exit(2);
}

// Each single wait is bounded, each test is bounded, and the whole process is bounded.
const STEP_MS = 5000;
const TEST_MS = 20000;
const GLOBAL_MS = Number(process.env.TICKWIRE_INTEROP_TIMEOUT_MS ?? 50000);
setTimeout(() => {
  console.error(`interop: global timeout of ${GLOBAL_MS} ms exceeded (mode ${MODE}, ${URL})`);
  process.exit(1);
}, GLOBAL_MS).unref();

console.log(`# socket.io-client interop: ${URL} transports=${JSON.stringify(TRANSPORTS)} (${MODE})`);

// ---------------------------------------------------------------------------------------------
// helpers

const opened = new Set();
function track(x) {
  opened.add(x);
  return x;
}
function closeAll() {
  for (const x of opened) {
    try {
      if (x instanceof Manager) x._close?.();
      else x.disconnect();
    } catch {
      // already closed
    }
  }
  opened.clear();
}
after(closeAll);

let unique = 0;
/** A token unique to this run, so stray events (e.g. from other clients) never match. */
function token(label) {
  return `${label}-${process.pid}-${++unique}`;
}

/** Socket.IO client socket on `nsp`, on its own manager (no caching, no reconnection). */
function connect(nsp = "/", opts = {}) {
  const socket = io(URL + nsp, {
    transports: TRANSPORTS,
    forceNew: true,
    reconnection: false,
    timeout: STEP_MS,
    ...opts,
  });
  track(socket);
  return socket;
}

function newManager(opts = {}) {
  return track(
    new Manager(URL, { transports: TRANSPORTS, reconnection: false, timeout: STEP_MS, ...opts }),
  );
}

/** Resolves with the argument list of the next `event` on `emitter`; rejects on timeout or on
 *  any of `failEvents` (with that event's first argument in the message). */
function waitEvent(emitter, event, what, { ms = STEP_MS, failEvents = [] } = {}) {
  return new Promise((resolve, reject) => {
    const cleanups = [];
    const done = (fn) => {
      clearTimeout(timer);
      cleanups.forEach((c) => c());
      fn();
    };
    const timer = setTimeout(
      () => done(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`))),
      ms,
    );
    const onEvent = (...args) => done(() => resolve(args));
    emitter.on(event, onEvent);
    cleanups.push(() => emitter.off(event, onEvent));
    for (const fe of failEvents) {
      const onFail = (err) =>
        done(() => reject(new Error(`${what}: got '${fe}' instead: ${describeErr(err)}`)));
      emitter.on(fe, onFail);
      cleanups.push(() => emitter.off(fe, onFail));
    }
  });
}

function describeErr(err) {
  if (err instanceof Error) {
    const data = err.data === undefined ? "" : ` data=${JSON.stringify(err.data)}`;
    return `${err.message}${data}`;
  }
  return JSON.stringify(err);
}

/** Waits for the namespace CONNECT to succeed. */
async function connected(socket, what) {
  if (socket.connected) return;
  await waitEvent(socket, "connect", `${what}: connect`, { failEvents: ["connect_error"] });
  assert.ok(socket.id, `${what}: connected socket has no id`);
}

/** Waits for the namespace CONNECT to fail; returns the connect_error. */
async function connectError(socket, what) {
  const [err] = await waitEvent(socket, "connect_error", `${what}: connect_error`, {
    failEvents: ["connect"],
  });
  return err;
}

/** Emits with an ack callback; resolves with all ack arguments. */
function emitAck(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`timed out after ${STEP_MS} ms waiting for the ack of '${event}'`)),
      STEP_MS,
    );
    socket.emit(event, ...args, (...reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

/** Buffers every occurrence of some events so tests can await them in any order and also
 *  assert that something did NOT arrive. */
class Inbox {
  constructor(socket, events) {
    this.socket = socket;
    this.items = [];
    this.waiters = [];
    for (const ev of events) {
      socket.on(ev, (...args) => {
        this.items.push({ ev, args });
        this.waiters = this.waiters.filter((w) => !w.try());
      });
    }
  }
  /** Next (not yet consumed) `ev` whose args satisfy `pred`. */
  next(ev, pred, what) {
    return new Promise((resolve, reject) => {
      const w = {
        try: () => {
          const i = this.items.findIndex((it) => it.ev === ev && pred(it.args));
          if (i < 0) return false;
          const [it] = this.items.splice(i, 1);
          clearTimeout(w.timer);
          resolve(it.args);
          return true;
        },
      };
      if (w.try()) return;
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${STEP_MS} ms waiting for ${what}`));
      }, STEP_MS);
      this.waiters.push(w);
    });
  }
  count(ev, pred) {
    return this.items.filter((it) => it.ev === ev && pred(it.args)).length;
  }
}
const firstArgIs = (v) => (args) => args[0] === v;

/** Deep-compare, where binary values (Buffer / ArrayBuffer / typed arrays) compare by bytes but
 *  must be binary on both sides (a JSON-ified Buffer `{type:"Buffer",data:[..]}` is a failure). */
function comparable(v) {
  if (Buffer.isBuffer(v)) return { "<binary>": v.toString("hex") };
  if (v instanceof ArrayBuffer) return { "<binary>": Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v))
    return { "<binary>": Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (Array.isArray(v)) return v.map(comparable);
  if (v && typeof v === "object") {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = comparable(x);
    return o;
  }
  return v;
}
function short(v, limit = 120) {
  const r = JSON.stringify(v) ?? String(v);
  return r.length <= limit ? r : `${r.slice(0, limit)}... (${r.length} chars)`;
}
/** Where two comparable values first differ, or null. */
function firstDiff(actual, expected, path = "$") {
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (actual.length !== expected.length)
      return `${path}: ${actual.length} items, expected ${expected.length}: got ${short(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const d = firstDiff(actual[i], expected[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObj(expected) && isObj(actual)) {
    const ka = Object.keys(actual).sort();
    const ke = Object.keys(expected).sort();
    if (JSON.stringify(ka) !== JSON.stringify(ke))
      return `${path}: keys ${JSON.stringify(ka)}, expected ${JSON.stringify(ke)}`;
    for (const k of ke) {
      const d = firstDiff(actual[k], expected[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(actual, expected) ? null : `${path}: got ${short(actual)}, expected ${short(expected)}`;
}
/** Binary-aware deep equality with a short message pointing at the first difference. */
function assertSame(actual, expected, what) {
  const d = firstDiff(comparable(actual), comparable(expected));
  if (d) assert.fail(`${what}: ${d}`);
}

async function expectTransport(socket, what) {
  const engine = socket.io.engine;
  if (MODE === "upgrade") return; // checked by the dedicated upgrade test
  assert.equal(
    engine.transport.name,
    TRANSPORTS[0],
    `${what}: expected transport ${TRANSPORTS[0]}, got ${engine.transport.name}`,
  );
}

// ---------------------------------------------------------------------------------------------
// checks

test("connect to / without auth: server emits auth {}", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  const auth = waitEvent(s, "auth", "'auth' event on /");
  await connected(s, "/");
  await expectTransport(s, "/");
  const [payload] = await auth;
  assert.deepStrictEqual(payload, {}, "auth payload without CONNECT data must be {}");
});

test("connect to / with auth {token:'123'}: auth echoed", { timeout: TEST_MS }, async () => {
  const s = connect("/", { auth: { token: "123" } });
  const auth = waitEvent(s, "auth", "'auth' event on /");
  await connected(s, "/ with auth");
  const [payload] = await auth;
  assert.deepStrictEqual(payload, { token: "123" }, "auth payload must echo the CONNECT data");
});

test("connect to /custom with auth: auth echoed, acks work", { timeout: TEST_MS }, async () => {
  const s = connect("/custom", { auth: { token: "abc", n: 1 } });
  const auth = waitEvent(s, "auth", "'auth' event on /custom");
  await connected(s, "/custom");
  const [payload] = await auth;
  assert.deepStrictEqual(payload, { token: "abc", n: 1 }, "/custom auth payload");
  const reply = await emitAck(s, "message-with-ack", "x", 2, { y: [null] });
  assert.deepStrictEqual(reply, ["x", 2, { y: [null] }], "/custom message-with-ack reply");
});

test("multiplexing / and /custom over one manager", { timeout: TEST_MS }, async () => {
  const manager = newManager();
  const main = track(manager.socket("/"));
  const custom = track(manager.socket("/custom", { auth: { token: "mux" } }));
  const authMain = waitEvent(main, "auth", "'auth' on / (multiplexed)");
  const authCustom = waitEvent(custom, "auth", "'auth' on /custom (multiplexed)");
  await Promise.all([connected(main, "/ (multiplexed)"), connected(custom, "/custom (multiplexed)")]);
  assert.equal(main.io, custom.io, "both namespaces must share one manager");
  assert.notEqual(main.id, custom.id, "each namespace socket must have its own sid");
  assert.deepStrictEqual((await authMain)[0], {}, "/ auth (multiplexed)");
  assert.deepStrictEqual((await authCustom)[0], { token: "mux" }, "/custom auth (multiplexed)");

  const [r1, r2] = await Promise.all([
    emitAck(main, "message-with-ack", "main", 1),
    emitAck(custom, "message-with-ack", "custom", 2),
  ]);
  assert.deepStrictEqual(r1, ["main", 1], "ack on / (multiplexed)");
  assert.deepStrictEqual(r2, ["custom", 2], "ack on /custom (multiplexed)");

  // Leaving /custom must keep the Engine.IO connection and / working.
  custom.disconnect();
  const back = waitEvent(main, "message-back", "'message-back' on / after leaving /custom");
  main.emit("message", "still here");
  assert.deepStrictEqual(await back, ["still here"], "/ after leaving /custom");
  assert.equal(main.connected, true, "/ must stay connected after /custom disconnects");
});

test("message -> message-back with mixed arguments", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  await connected(s, "/");
  const args = [1, "2", { 3: [true] }, null, 4.5, [false, { nested: "é ✓ \u2028" }], ""];
  const back = waitEvent(s, "message-back", "'message-back'");
  s.emit("message", ...args);
  assert.deepStrictEqual(await back, args, "message-back must carry the same arguments");

  const none = waitEvent(s, "message-back", "'message-back' with no arguments");
  s.emit("message");
  assert.deepStrictEqual(await none, [], "message-back with no arguments");
});

test("client -> server ack round trip", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  await connected(s, "/");
  const reply = await emitAck(s, "message-with-ack", 1, "2", { 3: [false] });
  assert.deepStrictEqual(reply, [1, "2", { 3: [false] }], "ack must carry the emitted arguments");
  // Several in flight at once: each ack must reach its own callback.
  const many = await Promise.all(
    Array.from({ length: 10 }, (_, i) => emitAck(s, "message-with-ack", i, `n${i}`)),
  );
  many.forEach((r, i) => assert.deepStrictEqual(r, [i, `n${i}`], `concurrent ack #${i}`));
  const empty = await emitAck(s, "message-with-ack");
  assert.deepStrictEqual(empty, [], "ack of an event without arguments");
});

test("server -> client ack: server-ack reply reaches the server", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  await connected(s, "/");
  const seen = [];
  s.on("server-ack", (...args) => {
    const cb = args.pop();
    assert.equal(typeof cb, "function", "server-ack must request an ack (callback expected)");
    seen.push(args);
    cb("pong", ...args);
  });
  const result = waitEvent(s, "server-ack-result", "'server-ack-result'");
  s.emit("request-server-ack", 1, { a: "b" });
  assert.deepStrictEqual(await result, ["pong", 1, { a: "b" }], "server-ack-result = ack reply");
  assert.deepStrictEqual(seen, [[1, { a: "b" }]], "server-ack arguments");

  // Binary in the client's ack reply (BINARY_ACK from client to server).
  s.off("server-ack");
  s.on("server-ack", (...args) => {
    const cb = args.pop();
    cb(Buffer.from([9, 8, 7]), { bin: Buffer.from("ack") }, ...args);
  });
  const result2 = waitEvent(s, "server-ack-result", "'server-ack-result' (binary reply)");
  s.emit("request-server-ack", "b");
  assertSame(
    await result2,
    [Buffer.from([9, 8, 7]), { bin: Buffer.from("ack") }, "b"],
    "server-ack-result with binary",
  );
});

test("server -> client ack: no reply within 2 s reports 'timeout'", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  await connected(s, "/");
  const seen = [];
  s.on("server-ack", (...args) => seen.push(args.slice(0, -1))); // never calls the ack callback
  const result = waitEvent(s, "server-ack-result", "'server-ack-result' after the ack timeout", {
    ms: 4000,
  });
  s.emit("request-server-ack", "never-acked");
  assert.deepStrictEqual(await result, ["timeout"], "server-ack-result when the client never acks");
  assert.deepStrictEqual(seen, [["never-acked"]], "server-ack arguments");
});

test("binary buffers both ways (events and acks)", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  await connected(s, "/");
  const big = Buffer.alloc(64 * 1024, 0);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const args = [
    Buffer.from([1, 2, 3]),
    "text",
    { nested: { buf: Buffer.from([4, 5, 6]), list: [Buffer.from([7]), 8] } },
    Buffer.from([0, 255, 0x1e, 0x62]), // NUL, 0xff, record separator, 'b'
    big,
  ];
  const back = waitEvent(s, "message-back", "'message-back' (binary)");
  s.emit("message", ...args);
  assertSame(await back, args, "message-back with binary");

  const reply = await emitAck(s, "message-with-ack", Buffer.from([1, 2]), { b: Buffer.from([3]) });
  assertSame(reply, [Buffer.from([1, 2]), { b: Buffer.from([3]) }], "binary ack");

  // A typed array is sent as binary too.
  const back2 = waitEvent(s, "message-back", "'message-back' (Uint8Array)");
  s.emit("message", new Uint8Array([10, 20, 30]));
  assertSame(await back2, [Buffer.from([10, 20, 30])], "message-back with Uint8Array");
});

test("rooms: emit-to-room reaches exactly the room members", { timeout: TEST_MS }, async () => {
  const [a, b, c] = [connect("/"), connect("/"), connect("/")];
  const boxes = [a, b, c].map((s) => new Inbox(s, ["room-message", "broadcast"]));
  const [ia, ib, ic] = boxes;
  await Promise.all([connected(a, "a"), connected(b, "b"), connected(c, "c")]);
  assert.deepStrictEqual(await emitAck(a, "join", "r1"), ["ok"], "join ack (a)");
  assert.deepStrictEqual(await emitAck(b, "join", "r1"), ["ok"], "join ack (b)");

  const t1 = token("room");
  assert.deepStrictEqual(await emitAck(a, "emit-to-room", "r1", t1, 42), ["ok"], "emit-to-room ack");
  assert.deepStrictEqual(
    await ia.next("room-message", firstArgIs(t1), "room-message at a (member, sender)"),
    [t1, 42],
  );
  assert.deepStrictEqual(await ib.next("room-message", firstArgIs(t1), "room-message at b"), [t1, 42]);
  // Marker: a broadcast requested after the room emit; once c has it, a room-message for c
  // would have arrived before it.
  const m1 = token("marker");
  a.emit("request-broadcast", m1);
  await ic.next("broadcast", firstArgIs(m1), "marker broadcast at c");
  assert.equal(ic.count("room-message", () => true), 0, "c is not in r1 but got a room-message");

  // After b leaves, only a gets the room message.
  assert.deepStrictEqual(await emitAck(b, "leave", "r1"), ["ok"], "leave ack (b)");
  const t2 = token("room");
  assert.deepStrictEqual(await emitAck(a, "emit-to-room", "r1", t2), ["ok"], "emit-to-room ack 2");
  assert.deepStrictEqual(await ia.next("room-message", firstArgIs(t2), "room-message 2 at a"), [t2]);
  const m2 = token("marker");
  a.emit("request-broadcast", m2);
  await Promise.all([
    ib.next("broadcast", firstArgIs(m2), "marker 2 at b"),
    ic.next("broadcast", firstArgIs(m2), "marker 2 at c"),
  ]);
  assert.equal(ib.count("room-message", firstArgIs(t2)), 0, "b left r1 but still got a room-message");
  assert.equal(ic.count("room-message", () => true), 0, "c got a room-message");
  assert.equal(ia.count("room-message", () => true), 0, "a got an unexpected extra room-message");
});

test("request-broadcast reaches every socket of /", { timeout: TEST_MS }, async () => {
  const sockets = [connect("/"), connect("/"), connect("/")];
  const boxes = sockets.map((s) => new Inbox(s, ["broadcast"]));
  await Promise.all(sockets.map((s, i) => connected(s, `client ${i}`)));
  const t = token("bcast");
  sockets[1].emit("request-broadcast", t, { n: 1 }, [2]);
  for (const [i, box] of boxes.entries()) {
    assert.deepStrictEqual(
      await box.next("broadcast", firstArgIs(t), `broadcast at client ${i}`),
      [t, { n: 1 }, [2]],
      `broadcast payload at client ${i}`,
    );
  }
});

test("unknown namespace /nope: connect_error 'Invalid namespace'", { timeout: TEST_MS }, async () => {
  const s = connect("/nope");
  const err = await connectError(s, "/nope");
  assert.equal(err.message, "Invalid namespace", "connect_error message for an unknown namespace");
  assert.equal(s.connected, false);
});

test("/private: bad token rejected with data, good token connects", { timeout: TEST_MS }, async () => {
  const bad = connect("/private", { auth: { token: "wrong" } });
  const err = await connectError(bad, "/private with a bad token");
  assert.equal(err.message, "unauthorized", "connect_error message from the middleware");
  assert.deepStrictEqual(err.data, { reason: "bad token" }, "connect_error data from the middleware");

  const none = connect("/private");
  const err2 = await connectError(none, "/private without auth");
  assert.equal(err2.message, "unauthorized", "connect_error message without auth");

  const good = connect("/private", { auth: { token: "secret" } });
  const auth = waitEvent(good, "auth", "'auth' on /private");
  await connected(good, "/private with the good token");
  assert.deepStrictEqual((await auth)[0], { token: "secret" }, "/private auth payload");
  assert.deepStrictEqual(await emitAck(good, "message-with-ack", "p"), ["p"], "/private ack");
});

test("client-side disconnect is clean", { timeout: TEST_MS }, async () => {
  const s = connect("/");
  await connected(s, "/");
  const errors = [];
  s.on("connect_error", (e) => errors.push(e));
  const gone = waitEvent(s, "disconnect", "'disconnect' after socket.disconnect()");
  s.disconnect();
  const [reason] = await gone;
  assert.equal(reason, "io client disconnect", "disconnect reason");
  assert.equal(s.connected, false, "socket must report disconnected");
  assert.deepStrictEqual(errors, [], "no connect_error expected");
  // The manager had only this socket, so it closes the Engine.IO connection too.
  assert.ok(
    ["closed", "closing"].includes(s.io.engine?.readyState ?? "closed"),
    `engine should be closing, is ${s.io.engine?.readyState}`,
  );
  assert.equal(s.io._readyState, "closed", "manager should be closed");

  // The server is still fine afterwards.
  const s2 = connect("/");
  await connected(s2, "/ after a disconnect");
  assert.deepStrictEqual(await emitAck(s2, "message-with-ack", 1), [1]);
});

test(
  "upgrade: polling -> websocket actually happens",
  { timeout: TEST_MS, skip: MODE !== "upgrade" && "only with TICKWIRE_TRANSPORTS=upgrade" },
  async () => {
    const manager = newManager({ autoConnect: false });
    let initial;
    manager.on("open", () => (initial = manager.engine.transport.name));
    const s = track(manager.socket("/"));
    const upgraded = new Promise((resolve, reject) => {
      manager.on("open", () => {
        const engine = manager.engine;
        engine.on("upgrade", (t) => resolve(t.name));
        engine.on("upgradeError", (e) => reject(new Error(`upgrade failed: ${describeErr(e)}`)));
      });
    });
    s.connect();
    // Traffic right away, likely while the probe is in flight.
    const back = waitEvent(s, "message-back", "'message-back' during upgrade");
    await connected(s, "/");
    s.emit("message", "during-upgrade", Buffer.from([1]));
    assertSame(await back, ["during-upgrade", Buffer.from([1])], "message-back during upgrade");
    assert.equal(initial, "polling", "the first transport must be polling");

    let timer;
    const name = await Promise.race([
      upgraded,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no upgrade to websocket within ${STEP_MS} ms`)),
          STEP_MS,
        );
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(name, "websocket", "upgraded transport");
    assert.equal(s.io.engine.transport.name, "websocket", "socket.io.engine.transport.name");

    // And it still works over the websocket.
    const back2 = waitEvent(s, "message-back", "'message-back' after upgrade");
    s.emit("message", "after-upgrade", { b: Buffer.from([2, 3]) });
    assertSame(await back2, ["after-upgrade", { b: Buffer.from([2, 3]) }], "after upgrade");
    assert.deepStrictEqual(await emitAck(s, "message-with-ack", "x"), ["x"], "ack after upgrade");
  },
);
