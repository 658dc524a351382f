// Tests of tickwire-auth.js against a fake socket.io-client socket on a fake clock (no
// network, no real timers). Run with `node --test protocol/js/test/`.

import { test } from "node:test";
import assert from "node:assert/strict";

import { RENEW_EVENT, UNAUTHORIZED_EVENT, RenewError, createTokenSession, keepRenewed } from "../tickwire-auth.js";

/** A clock and timers that run only when the test advances the clock. */
function fakeTime(start = 1_000_000) {
  let clock = start;
  let nextId = 1;
  const timers = new Map();
  return {
    now: () => clock,
    setTimer(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: clock + ms, fn });
      return id;
    },
    clearTimer(id) {
      timers.delete(id);
    },
    pending: () => [...timers.values()].map((t) => t.at - clock).sort((a, b) => a - b),
    /** Move the clock to `ms` later, running each timer due on the way (and what it awaits). */
    async advance(ms) {
      const end = clock + ms;
      for (;;) {
        const due = [...timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        const [id, t] = due;
        timers.delete(id);
        clock = t.at;
        await t.fn();
        await new Promise((resolve) => setImmediate(resolve));
      }
      clock = end;
    },
  };
}

/** A socket whose renewals answer with the next of `replies` (a value, or an Error to reject). */
function fakeSocket(replies, { connected = true } = {}) {
  const handlers = new Map();
  const socket = {
    connected,
    auth: { room: "lobby" },
    renewals: 0,
    connects: 0,
    on(event, fn) {
      if (!handlers.has(event)) handlers.set(event, []);
      handlers.get(event).push(fn);
      return socket;
    },
    off(event, fn) {
      handlers.set(event, (handlers.get(event) ?? []).filter((f) => f !== fn));
      return socket;
    },
    fire(event, ...args) {
      for (const fn of [...(handlers.get(event) ?? [])]) fn(...args);
    },
    listeners: (event) => (handlers.get(event) ?? []).length,
    timeout(ms) {
      socket.lastTimeout = ms;
      return socket;
    },
    emitWithAck(event) {
      assert.equal(event, RENEW_EVENT);
      socket.renewals += 1;
      const reply = replies.shift();
      return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
    },
    connect() {
      socket.connects += 1;
    },
  };
  return socket;
}

const secs = (ms) => ms / 1000;

test("renews after two thirds of the time left and puts each token in socket.auth", async () => {
  const time = fakeTime();
  const exp = secs(time.now()) + 90;
  const socket = fakeSocket([
    { token: "t2", exp: exp + 90 },
    { token: "t3", exp: exp + 180 },
  ]);
  const seen = [];
  const session = keepRenewed(socket, { token: "t1", exp }, { ...time, onToken: (s) => seen.push(s.token) });
  assert.deepEqual(socket.auth, { room: "lobby", token: "t1" }, "the other auth fields are kept");
  assert.deepEqual(time.pending(), [60_000]);
  await time.advance(59_999);
  assert.equal(socket.renewals, 0);
  await time.advance(1);
  assert.equal(socket.renewals, 1);
  assert.equal(socket.lastTimeout, 5000);
  assert.equal(session.token, "t2");
  assert.deepEqual(socket.auth, { room: "lobby", token: "t2" });
  // 120 s left at receipt: the next renewal 80 s on.
  assert.deepEqual(time.pending(), [80_000]);
  await time.advance(80_000);
  assert.equal(session.token, "t3");
  assert.deepEqual(seen, ["t2", "t3"]);
});

test("renewBefore fixes the margin; nothing is renewed while disconnected", async () => {
  const time = fakeTime();
  const exp = secs(time.now()) + 10;
  const socket = fakeSocket([{ token: "t2", exp: exp + 10 }], { connected: false });
  const session = createTokenSession({ token: "t1", exp }, { ...time, renewBefore: 3000 });
  session.attach(socket);
  assert.deepEqual(time.pending(), [], "no timer before the socket connects");
  socket.connected = true;
  socket.fire("connect");
  assert.deepEqual(time.pending(), [7000]);
  socket.connected = false;
  socket.fire("disconnect", "transport close");
  assert.deepEqual(time.pending(), []);
  // Back after the due time: renewed at once.
  await time.advance(8000);
  socket.connected = true;
  socket.fire("connect");
  assert.deepEqual(time.pending(), [0]);
  await time.advance(0);
  assert.equal(session.token, "t2");
});

test("a renewal without an answer, or unavailable, is retried; revoked is not", async () => {
  const time = fakeTime();
  const exp = secs(time.now()) + 30;
  const socket = fakeSocket([
    new Error("operation has timed out"),
    { token: "", exp: 0, error: "unavailable", message: "token check unavailable" },
    { token: "t2", exp: exp + 30 },
    { token: "", exp: 0, error: "revoked", message: "token revoked" },
  ]);
  const session = keepRenewed(socket, { token: "t1", exp }, { ...time, retryDelay: 500 });
  await time.advance(20_000);
  assert.equal(socket.renewals, 1);
  await time.advance(500);
  assert.equal(socket.renewals, 2);
  await time.advance(500);
  assert.equal(socket.renewals, 3);
  assert.equal(session.token, "t2");
  await time.advance(60_000);
  assert.equal(socket.renewals, 4, "no retry after revoked");
  assert.deepEqual(time.pending(), []);
  await assert.rejects(session.renew(fakeSocket([{ token: "", exp: 0, error: "revoked", message: "token revoked" }])), (e) => {
    assert.ok(e instanceof RenewError);
    assert.equal(e.code, "revoked");
    return true;
  });
});

test("an expired session is refreshed after the server's disconnect, then the socket connects again", async () => {
  const time = fakeTime();
  const exp = secs(time.now()) + 30;
  const socket = fakeSocket([]);
  const codes = [];
  const session = keepRenewed(socket, { token: "t1", exp }, {
    ...time,
    refresh: async (code) => {
      codes.push(code);
      return { token: "fresh", exp: exp + 300 };
    },
  });
  socket.fire(UNAUTHORIZED_EVENT, { code: "expired", message: "token expired" });
  assert.equal(socket.connects, 0, "not before the disconnect");
  socket.connected = false;
  socket.fire("disconnect", "io server disconnect");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(codes, ["expired"]);
  assert.equal(session.token, "fresh");
  assert.equal(socket.auth.token, "fresh");
  assert.equal(socket.connects, 1);
});

test("a refused connect is refreshed when a new token can cure it, else reported", async () => {
  const time = fakeTime();
  const exp = secs(time.now()) + 30;
  const socket = fakeSocket([], { connected: false });
  const told = [];
  keepRenewed(socket, { token: "t1", exp }, {
    ...time,
    refresh: async () => ({ token: "fresh", exp: exp + 300 }),
    onUnauthorized: (why) => told.push(why),
  });
  const refused = (code, message) => Object.assign(new Error(message), { data: { code } });
  socket.fire("connect_error", refused("expired", "token expired"));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(socket.connects, 1);
  assert.equal(socket.auth.token, "fresh");
  socket.fire("connect_error", refused("revoked", "token revoked"));
  socket.fire("connect_error", new Error("xhr poll error"));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(socket.connects, 1);
  assert.deepEqual(told, [{ code: "revoked", message: "token revoked" }]);
  // Without refresh, the refusal is reported.
  const lone = fakeSocket([], { connected: false });
  const alone = [];
  keepRenewed(lone, { token: "t", exp }, { ...time, onUnauthorized: (why) => alone.push(why.code) });
  lone.fire("connect_error", refused("expired", "token expired"));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(alone, ["expired"]);
});

test("detach stops renewing and removes the listeners", async () => {
  const time = fakeTime();
  const socket = fakeSocket([]);
  const session = createTokenSession({ token: "t1", exp: secs(time.now()) + 30 }, time);
  const detach = session.attach(socket);
  assert.equal(socket.listeners("connect"), 1);
  detach();
  assert.deepEqual(time.pending(), []);
  for (const event of ["connect", "disconnect", UNAUTHORIZED_EVENT, "connect_error"]) {
    assert.equal(socket.listeners(event), 0, event);
  }
  assert.throws(() => createTokenSession({ token: 1, exp: 2 }), TypeError);
});
