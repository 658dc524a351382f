// Tests of tickwire-once.js against a fake socket.io-client socket (no network, no timers).
// Run with `node --test protocol/js/test/` (no npm dependencies).

import { test } from "node:test";
import assert from "node:assert/strict";

import { EmitOnceTimeout, MAX_EMIT_ID_LENGTH, ONCE_EVENT, createEmitOnce, emitIds, emitOnce } from "../tickwire-once.js";
import { Writer, createParser, decodePacket, types as t } from "../tickwire-compact.js";

/**
 * A socket whose `timeout(ms).emitWithAck(...)` records each call and answers with the next
 * of `outcomes`: `{ ack: value }` resolves, `{ timeout: true }` rejects as socket.io-client
 * does when no ack came in time.
 */
function fakeSocket(outcomes) {
  const calls = [];
  return {
    calls,
    timeout(ms) {
      return {
        emitWithAck(...args) {
          calls.push({ ms, args });
          const outcome = outcomes.shift() ?? { timeout: true };
          return outcome.timeout
            ? Promise.reject(new Error("operation has timed out"))
            : Promise.resolve(outcome.ack);
        },
      };
    },
  };
}

test("retries with the same emit id until acknowledged", async () => {
  const socket = fakeSocket([{ timeout: true }, { timeout: true }, { ack: { receipt: 1 } }]);
  const once = createEmitOnce({ attemptTimeout: 500, newId: () => "e1" });
  const answer = await once(socket, "buy", { item: 7 }, "extra");
  assert.deepEqual(answer, { receipt: 1 });
  assert.equal(socket.calls.length, 3);
  for (const call of socket.calls) {
    assert.equal(call.ms, 500);
    assert.deepEqual(call.args, [ONCE_EVENT, "e1", "buy", { item: 7 }, "extra"]);
  }
});

test("each emit gets a fresh id", async () => {
  const socket = fakeSocket([{ ack: 1 }, { ack: 2 }]);
  assert.equal(await emitOnce(socket, "a"), 1);
  assert.equal(await emitOnce(socket, "a"), 2);
  const [first, second] = socket.calls.map((c) => c.args[1]);
  assert.notEqual(first, second);
  assert.match(first, /^[0-9a-f]{16}-0$/);
  assert.match(second, /^[0-9a-f]{16}-1$/);
  const ids = emitIds();
  assert.notEqual(ids(), first, "another generator, another prefix");
  assert.ok(ids().length <= MAX_EMIT_ID_LENGTH);
});

test("gives up after maxAttempts with the last error", async () => {
  const socket = fakeSocket([]);
  const once = createEmitOnce({ maxAttempts: 3, newId: () => "e2" });
  await assert.rejects(once(socket, "buy", 1), (error) => {
    assert.ok(error instanceof EmitOnceTimeout);
    assert.equal(error.id, "e2");
    assert.equal(error.attempts, 3);
    assert.equal(error.cause.message, "operation has timed out");
    return true;
  });
  assert.equal(socket.calls.length, 3);
});

test("gives up at the total timeout, the last attempt cut to what is left", async () => {
  let clock = 0;
  const socket = fakeSocket([]);
  const timeout = socket.timeout;
  // Each attempt takes its whole timeout on the fake clock.
  socket.timeout = (ms) => {
    clock += ms;
    return timeout(ms);
  };
  const once = createEmitOnce({ attemptTimeout: 400, timeout: 1000, now: () => clock, newId: () => "e3" });
  await assert.rejects(once(socket, "buy"), EmitOnceTimeout);
  assert.deepEqual(
    socket.calls.map((c) => c.ms),
    [400, 400, 200],
  );
});

test("refuses what the server would refuse", async () => {
  const socket = fakeSocket([]);
  await assert.rejects(emitOnce(socket, ONCE_EVENT), TypeError);
  await assert.rejects(emitOnce(socket, 42), TypeError);
  await assert.rejects(createEmitOnce({ newId: () => "x".repeat(65) })(socket, "buy"), TypeError);
  await assert.rejects(createEmitOnce({ newId: () => "" })(socket, "buy"), TypeError);
  assert.throws(() => createEmitOnce({ attemptTimeout: 0 }), TypeError);
  assert.equal(socket.calls.length, 0);
});

test("the compact envelope is the postcard tuple the server reads", () => {
  // The vector the Rust server's and client's tests hold: ("e1", "buy", postcard((7u8, true))).
  const inner = new Uint8Array([7, 1]);
  const bytes = new Writer().string("e1").string("buy").bytes(inner).finish();
  assert.equal(Buffer.from(bytes).toString("hex"), "02653103627579020701");
  // As the compact parser sends it, with the registry line of the module's docs.
  const parser = createParser({ events: { [ONCE_EVENT]: t.args(t.string, t.string, t.bytes) } });
  const [frame] = new parser.Encoder().encode({ type: 2, nsp: "/", id: 5, data: [ONCE_EVENT, "e1", "buy", inner] });
  const packet = decodePacket(frame);
  assert.equal(packet.event, ONCE_EVENT);
  assert.equal(packet.id, 5);
  assert.equal(Buffer.from(packet.payload).toString("hex"), "02653103627579020701");
});
