// Tests of the JS compact codec against the golden vectors the Rust tests write
// (protocol/tests/vectors/compact.json), plus the socket.io-client parser and random input.
// Run with `node --test protocol/js/test/` (no npm dependencies).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  CompactError,
  DEFAULT_LIMITS,
  PacketType,
  Reader,
  VERSION,
  Writer,
  createParser,
  decodePacket,
  encodePacket,
  fromPayload,
  toPayload,
  types as t,
} from "../tickwire-compact.js";

const vectors = JSON.parse(
  readFileSync(new URL("../../tests/vectors/compact.json", import.meta.url), "utf8"),
);

// The vectors' payload types, declared as the Rust test declares them (tests/support/game_types.rs).
const Player = t.struct({ id: t.u32, x: t.f32, y: t.f32, last_input_seq: t.u32, hp: t.u8 });
const Snapshot = t.struct({ tick: t.u53, players: t.vec(Player) });
const Input = t.struct({ seq: t.u32, dx: t.i32, dy: t.i32, buttons: t.u16, aim: t.option(t.f32) });
const Hit = t.tuple(t.u32, t.i64, t.f64, t.bool);
const CODECS = { snapshot: Snapshot, input: Input, string: t.string, hit: Hit, u32: t.u32 };

const KINDS = { CONNECT: 0, DISCONNECT: 1, EVENT: 2, ACK: 3, CONNECT_ERROR: 4 };

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const unhex = (text) => new Uint8Array(Buffer.from(text, "hex"));

/** Compare values that may hold BigInts with the JSON numbers of the vector file. */
function plain(value) {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, plain(v)]));
  if (value && typeof value === "object" && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** The payload bytes of a vector's payload description. */
function payloadBytes(desc) {
  switch (desc.type) {
    case "none":
      return new Uint8Array(0);
    case "json":
      return new TextEncoder().encode(JSON.stringify(desc.value));
    default:
      return toPayload(CODECS[desc.type], desc.value);
  }
}

/** A compact packet object from a vector's description. */
function packetOf(desc) {
  const packet = { type: KINDS[desc.kind], nsp: desc.nsp, payload: payloadBytes(desc.payload) };
  if (desc.id !== null) packet.id = desc.id;
  if (desc.event_id !== null) packet.eventId = desc.event_id;
  else if (desc.event !== null) packet.event = desc.event;
  return packet;
}

/** Read a Socket.IO JSON text packet (the Engine.IO `4` already removed), as socket.io-parser does. */
function parseJsonText(text) {
  let i = 0;
  const packet = { type: Number(text[i++]) };
  packet.nsp = "/";
  if (text[i] === "/") {
    const end = text.indexOf(",", i);
    packet.nsp = end < 0 ? text.slice(i) : text.slice(i, end);
    i = end < 0 ? text.length : end + 1;
  }
  const digits = /^[0-9]+/.exec(text.slice(i));
  if (digits) {
    packet.id = Number(digits[0]);
    i += digits[0].length;
  }
  if (i < text.length) packet.data = JSON.parse(text.slice(i));
  return packet;
}

// For ACK vectors: which event the ack id answered, and that event's registered types.
const ACK_EVENTS = { ack_u32: ["tick"], ack_no_argument: ["leave"], ack_string: ["say", "hi"] };
const parserOptions = {
  events: {
    state: Snapshot,
    input: { payload: Input, ack: t.u32 },
    say: { payload: t.string, ack: t.string },
    hit: Hit,
    ping: null,
    tick: { payload: null, ack: t.u32 },
    leave: { payload: null, ack: null },
  },
  eventIds: vectors.event_ids,
};

test("the vector file is the one this module expects", () => {
  assert.equal(vectors.version, VERSION);
  assert.ok(vectors.valid.length >= 15);
  assert.ok(vectors.invalid.length >= 20);
});

test("every valid vector decodes to its packet and value", () => {
  for (const v of vectors.valid) {
    const frame = unhex(v.compact_hex);
    const packet = decodePacket(frame);
    const desc = v.packet;
    assert.equal(packet.type, KINDS[desc.kind], v.name);
    assert.equal(packet.nsp, desc.nsp, v.name);
    assert.equal(packet.id, desc.id ?? undefined, v.name);
    if (desc.event_id !== null) {
      assert.equal(packet.eventId, desc.event_id, v.name);
      assert.equal(packet.event, undefined, v.name);
      assert.equal(vectors.event_ids[packet.eventId], desc.event, v.name);
    } else {
      assert.equal(packet.event, desc.event ?? undefined, v.name);
      assert.equal(packet.eventId, undefined, v.name);
    }
    const p = desc.payload;
    if (p.type === "none") {
      assert.equal(packet.payload.length, 0, v.name);
    } else if (p.type === "json") {
      assert.deepEqual(JSON.parse(new TextDecoder().decode(packet.payload)), p.value, v.name);
    } else {
      assert.deepEqual(plain(fromPayload(CODECS[p.type], packet.payload)), p.value, v.name);
    }
    // The payload is a view into the frame, not a copy.
    assert.equal(packet.payload.buffer, frame.buffer, v.name);
  }
});

test("every valid vector's value encodes to its bytes", () => {
  for (const v of vectors.valid) {
    assert.equal(hex(encodePacket(packetOf(v.packet), DEFAULT_LIMITS)), v.compact_hex, v.name);
  }
});

test("every valid vector's polling body is b + base64 of the frame", () => {
  for (const v of vectors.valid) {
    assert.equal(v.polling_body, "b" + Buffer.from(v.compact_hex, "hex").toString("base64"), v.name);
  }
});

test("every invalid vector is refused with its error code", () => {
  for (const v of vectors.invalid) {
    assert.throws(
      () => decodePacket(unhex(v.compact_hex)),
      (e) => e instanceof CompactError && e.code === v.error,
      `${v.name}: expected ${v.error}`,
    );
  }
});

test("mutated frames are accepted or refused exactly as the Rust decoder does", () => {
  assert.ok(vectors.mutations.length >= 60);
  for (const m of vectors.mutations) {
    let outcome = "ok";
    try {
      decodePacket(unhex(m.compact_hex));
    } catch (e) {
      assert.ok(e instanceof CompactError, String(e));
      outcome = e.code;
    }
    assert.equal(outcome, m.outcome, m.compact_hex);
  }
});

test("the parser's Decoder gives what socket.io-parser gives for the JSON frame", () => {
  for (const v of vectors.valid) {
    const parser = createParser(parserOptions);
    const encoder = new parser.Encoder();
    const decoder = new parser.Decoder();
    const json = parseJsonText(v.json_frame.slice(1));
    if (json.type === PacketType.ACK) {
      // We sent the event this ack answers.
      encoder.encode({ type: PacketType.EVENT, nsp: json.nsp, id: json.id, data: ACK_EVENTS[v.name] });
    }
    const got = [];
    decoder.on("decoded", (packet) => got.push(packet));
    decoder.add(unhex(v.compact_hex).buffer);
    assert.equal(got.length, 1, v.name);
    assert.deepEqual(plain(got[0]), json, v.name);
  }
});

test("the parser's Encoder writes the compact frame of the JSON frame's packet", () => {
  for (const v of vectors.valid) {
    // Events are numbered only where the vector numbers them.
    const eventIds = v.packet.event_id === null ? [] : vectors.event_ids;
    const parser = createParser({ ...parserOptions, eventIds });
    const encoder = new parser.Encoder();
    const decoder = new parser.Decoder();
    const json = parseJsonText(v.json_frame.slice(1));
    if (json.type === PacketType.ACK) {
      // The peer sent the event this ack answers.
      const [name, ...args] = ACK_EVENTS[v.name];
      const payload = args.length ? toPayload(t.string, args[0]) : undefined;
      decoder.decode(encodePacket({ type: PacketType.EVENT, nsp: json.nsp, id: json.id, event: name, payload }));
    }
    if (v.name === "connect_error") continue; // a server-only packet; covered below
    const frames = encoder.encode(json);
    assert.equal(frames.length, 1, v.name);
    assert.equal(hex(frames[0]), v.compact_hex, v.name);
  }
  const parser = createParser();
  const error = vectors.valid.find((v) => v.name === "connect_error");
  const frames = new parser.Encoder().encode(parseJsonText(error.json_frame.slice(1)));
  assert.equal(hex(frames[0]), error.compact_hex);
});

// ---------------------------------------------------------------------------------------------
// The parser beyond the vectors
// ---------------------------------------------------------------------------------------------

test("the Decoder is an emitter socket.io-client can subscribe to and unsubscribe from", () => {
  const parser = createParser();
  const decoder = new parser.Decoder();
  const seen = [];
  const fn = (p) => seen.push(p.type);
  decoder.on("decoded", fn);
  decoder.add(unhex("0100"));
  decoder.off("decoded", fn);
  decoder.add(unhex("0100"));
  decoder.once("decoded", (p) => seen.push(p.type + 10));
  decoder.add(unhex("0101"));
  decoder.add(unhex("0101"));
  assert.deepEqual(seen, [0, 11]);
  decoder.destroy();
});

test("the Decoder refuses text messages and bad frames with a CompactError", () => {
  const decoder = new (createParser().Decoder)();
  assert.throws(() => decoder.add('42["state"]'), (e) => e.code === "text_frame");
  assert.throws(() => decoder.add({}), (e) => e.code === "unsupported_chunk");
  assert.throws(() => decoder.add(unhex("0200")), (e) => e.code === "unsupported_version");
  assert.throws(() => decoder.add(unhex("010205")), (e) => e.code === "unknown_event_id");
  assert.throws(() => decoder.add(unhex("01007b")), (e) => e.code === "invalid_json");
  assert.throws(() => decoder.add(unhex("01005b5d")), (e) => e.code === "invalid_json");
});

test("numbered events, several arguments, acks both ways", () => {
  const options = {
    events: {
      move: t.args(t.i32, t.i32),
      join: { payload: t.string, ack: t.args(t.bool, t.string) },
      ping: null,
    },
    eventIds: ["move"],
  };
  const client = createParser(options);
  const server = createParser(options);
  const [cEnc, cDec] = [new client.Encoder(), new client.Decoder()];
  const [sEnc, sDec] = [new server.Encoder(), new server.Decoder()];

  // move(-1, 2) goes as event id 0 and a tuple payload.
  const [move] = cEnc.encode({ type: 2, nsp: "/", data: ["move", -1, 2] });
  assert.equal(hex(move), "0102" + "01" + "0104");
  assert.deepEqual(sDec.decode(move), { type: 2, nsp: "/", data: ["move", -1, 2] });

  // join("red") with ack id 5 in /game; the answer (true, "ok") is typed by the table.
  const [join] = cEnc.encode({ type: 2, nsp: "/game", id: 5, data: ["join", "red"] });
  assert.deepEqual(sDec.decode(join), { type: 2, nsp: "/game", id: 5, data: ["join", "red"] });
  const [ack] = sEnc.encode({ type: 3, nsp: "/game", id: 5, data: [true, "ok"] });
  assert.deepEqual(cDec.decode(ack), { type: 3, nsp: "/game", id: 5, data: [true, "ok"] });
  // The entry was used up: a second ACK with that id is not typed any more.
  assert.deepEqual(cDec.decode(ack).data, [ack.subarray(ack.length - 4)]);

  // No argument.
  const [ping] = cEnc.encode({ type: 2, nsp: "/", data: ["ping"] });
  assert.deepEqual(sDec.decode(ping), { type: 2, nsp: "/", data: ["ping"] });
  assert.throws(() => cEnc.encode({ type: 2, nsp: "/", data: ["ping", 1] }), (e) => e.code === "argument_count");
  assert.throws(() => cEnc.encode({ type: 2, nsp: "/", data: ["join"] }), (e) => e.code === "argument_count");

  // Unregistered events travel as raw bytes.
  const [raw] = cEnc.encode({ type: 5, nsp: "/", data: ["blob", new Uint8Array([9, 8]).buffer] });
  assert.deepEqual(plain(sDec.decode(raw).data), ["blob", new Uint8Array([9, 8])]);
  assert.throws(() => cEnc.encode({ type: 2, nsp: "/", data: ["chat", "hi"] }), (e) => e.code === "no_schema");
});

test("the ack table is bounded", () => {
  const parser = createParser({ events: { e: { payload: null, ack: t.u8 } }, maxPendingAcks: 2 });
  const encoder = new parser.Encoder();
  const decoder = new parser.Decoder();
  for (const id of [1, 2, 3]) encoder.encode({ type: 2, nsp: "/", id, data: ["e"] });
  assert.equal(encoder.acks.awaiting.size, 2);
  const ack = (id) => encodePacket({ type: 3, id, payload: new Uint8Array([7]) });
  assert.deepEqual(plain(decoder.decode(ack(1)).data), [new Uint8Array([7])]); // forgotten: raw
  assert.deepEqual(decoder.decode(ack(3)).data, [7]);
});

// ---------------------------------------------------------------------------------------------
// Writer / Reader
// ---------------------------------------------------------------------------------------------

test("varints, zigzag and floats match postcard", () => {
  const w = new Writer(1);
  w.u32(0).u32(127).u32(128).u32(300).u32(0xffffffff);
  w.u64(2n ** 64n - 1n).u64(Number.MAX_SAFE_INTEGER);
  w.i32(0).i32(-1).i32(1).i32(-2).i32(-(2 ** 31)).i32(2 ** 31 - 1);
  w.i64(-(2n ** 63n)).i64(-1234567890123).i16(-32768).u16(65535);
  w.u8(255).i8(-1).bool(true).f32(1.5).f64(-0.5).string("é").option(null, () => {}).option(3, (w2, v) => w2.u8(v));
  const bytes = w.finish();
  assert.equal(
    hex(bytes),
    [
      "00", "7f", "8001", "ac02", "ffffffff0f",
      "ffffffffffffffffff01", "ffffffffffffff0f",
      "00", "01", "02", "03", "ffffffff0f", "feffffff0f",
      "ffffffffffffffffff01", "9593d89fee47", "ffff03", "ffff03",
      "ff", "ff", "01", "0000c03f", "000000000000e0bf", "02c3a9", "00", "0103",
    ].join(""),
  );
  const r = new Reader(bytes);
  assert.deepEqual(
    [r.u32(), r.u32(), r.u32(), r.u32(), r.u32(), r.u64(), r.u53()],
    [0, 127, 128, 300, 0xffffffff, 2n ** 64n - 1n, Number.MAX_SAFE_INTEGER],
  );
  assert.deepEqual(
    [r.i32(), r.i32(), r.i32(), r.i32(), r.i32(), r.i32()],
    [0, -1, 1, -2, -(2 ** 31), 2 ** 31 - 1],
  );
  assert.deepEqual([r.i64(), r.i53(), r.i16(), r.u16()], [-(2n ** 63n), -1234567890123, -32768, 65535]);
  assert.deepEqual(
    [r.u8(), r.i8(), r.bool(), r.f32(), r.f64(), r.string(), r.option(() => 1), r.option((r2) => r2.u8())],
    [255, -1, true, 1.5, -0.5, "é", null, 3],
  );
  r.end();
});

test("the Reader refuses what postcard refuses", () => {
  const fails = (bytes, read, code) =>
    assert.throws(() => read(new Reader(new Uint8Array(bytes))), (e) => e instanceof CompactError && e.code === code);
  fails([2], (r) => r.bool(), "bad_bool");
  fails([2], (r) => r.option(() => 0), "bad_option");
  fails([], (r) => r.u8(), "unexpected_end");
  fails([0x80], (r) => r.u32(), "unexpected_end");
  fails([0xff, 0xff, 0xff, 0xff, 0x10], (r) => r.u32(), "bad_varint");
  fails([0xff, 0xff, 0xff, 0xff, 0x8f, 0x00], (r) => r.u32(), "bad_varint");
  fails([0xff, 0xff, 0x04], (r) => r.u16(), "bad_varint");
  fails([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], (r) => r.u64(), "bad_varint");
  fails([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10], (r) => r.u53(), "out_of_range");
  fails([3, 0x61], (r) => r.string(), "unexpected_end");
  fails([2, 0xc3, 0x28], (r) => r.string(), "bad_utf8");
  fails([0xff, 0xff, 0xff, 0xff, 0x0f], (r) => r.seq((r2) => r2.u8()), "unexpected_end");
  fails([5, 1, 1, 1, 1, 1], (r) => r.char(), "bad_char");
  fails([1, 0], (r) => fromPayload(t.u8, r._bytes), "trailing_bytes");
  fails([3], (r) => t.enumOf({ A: null, B: t.u8 }).decode(r), "bad_enum");
  // A non-minimal varint is fine in a payload (postcard accepts it), unlike in the header.
  assert.equal(new Reader(new Uint8Array([0x80, 0x00])).u32(), 0);
});

test("the Writer refuses values out of range", () => {
  const fails = (write) => assert.throws(() => write(new Writer()), (e) => e.code === "invalid_value");
  fails((w) => w.u8(256));
  fails((w) => w.u32(-1));
  fails((w) => w.u32(2 ** 32));
  fails((w) => w.u32(1.5));
  fails((w) => w.i32(2 ** 31));
  fails((w) => w.u64(2 ** 60));
  fails((w) => w.u64(2n ** 64n));
  fails((w) => w.i64(2n ** 63n));
  fails((w) => w.bool(1));
  fails((w) => w.string(5));
  fails((w) => t.tuple(t.u8, t.u8).encode(w, [1]));
  fails((w) => t.enumOf({ A: null }).encode(w, "B"));
  assert.throws(() => t.struct({ 0: t.u8 }), TypeError);
});

test("enums, maps, arrays, chars and bytes round-trip", () => {
  const Shape = t.enumOf({ Empty: null, Circle: t.f32, Rect: t.struct({ w: t.u16, h: t.u16 }) });
  const Doc = t.struct({
    shapes: t.vec(Shape),
    tags: t.map(t.string, t.i64),
    rgb: t.array(t.u8, 3),
    initial: t.char,
    blob: t.bytes,
    nothing: t.unit,
    big: t.u128,
    neg: t.i128,
  });
  const value = {
    shapes: ["Empty", { Circle: 2.5 }, { Rect: { w: 3, h: 4 } }],
    tags: new Map([["a", -5n]]),
    rgb: [1, 2, 3],
    initial: "✓",
    blob: new Uint8Array([0, 255]),
    nothing: null,
    big: 2n ** 100n,
    neg: -(2n ** 100n),
  };
  const bytes = toPayload(Doc, value);
  assert.equal(hex(bytes.subarray(0, 9)), "03" + "00" + "01" + "00002040" + "02" + "03");
  assert.deepEqual(fromPayload(Doc, bytes), value);
});

// ---------------------------------------------------------------------------------------------
// Random input
// ---------------------------------------------------------------------------------------------

/** A deterministic generator (xorshift32), so every run checks the same inputs. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function randomFrame(next, frameLike) {
  const len = next() % 48;
  const bytes = new Uint8Array(len + (frameLike ? 2 : 0));
  for (let i = 0; i < bytes.length; i++) {
    const pick = next() % 8;
    bytes[i] = pick === 0 ? 0x80 : pick === 1 ? 0x2f : pick === 2 ? next() % 16 : next() & 0xff;
  }
  if (frameLike) {
    bytes[0] = next() % 5 === 0 ? next() & 0xff : 1;
    bytes[1] = next() % 5 === 0 ? next() & 0xff : next() % 32;
  }
  return bytes;
}

test("random bytes: decodePacket returns a canonical packet or throws a CompactError", { timeout: 20_000 }, () => {
  const next = rng(0x74776972);
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    const frame = randomFrame(next, i % 2 === 0);
    let packet;
    try {
      packet = decodePacket(frame);
    } catch (e) {
      assert.ok(e instanceof CompactError, `${hex(frame)}: ${e}`);
      continue;
    }
    decoded++;
    assert.equal(hex(encodePacket(packet)), hex(frame), "decoding is canonical");
  }
  assert.ok(decoded > 100, `only ${decoded} random frames decoded`);
});

test("random bytes: the parser and payload types throw CompactErrors only", { timeout: 20_000 }, () => {
  const next = rng(0x636f6d70);
  const decoder = new (createParser(parserOptions).Decoder)();
  for (let i = 0; i < 20_000; i++) {
    const frame = randomFrame(next, true);
    for (const run of [
      () => decoder.decode(frame),
      () => fromPayload(Snapshot, frame),
      () => fromPayload(Input, frame),
      () => fromPayload(Hit, frame),
      () => fromPayload(t.vec(t.string), frame),
    ]) {
      try {
        run();
      } catch (e) {
        assert.ok(e instanceof CompactError, `${hex(frame)}: ${e}`);
      }
    }
  }
});

test("mangled vectors: every cut and every byte flip is handled", { timeout: 20_000 }, () => {
  const next = rng(0x6d616e67);
  for (const v of vectors.valid) {
    const frame = unhex(v.compact_hex);
    for (let cut = 0; cut < frame.length; cut++) {
      try {
        const p = decodePacket(frame.subarray(0, cut));
        assert.equal(hex(encodePacket(p)), hex(frame.subarray(0, cut)));
      } catch (e) {
        assert.ok(e instanceof CompactError);
      }
    }
    for (let i = 0; i < 200; i++) {
      const copy = frame.slice();
      copy[next() % copy.length] = next() & 0xff;
      try {
        const p = decodePacket(copy);
        assert.equal(hex(encodePacket(p)), hex(copy));
      } catch (e) {
        assert.ok(e instanceof CompactError);
      }
    }
  }
});

test("limits are enforced on both sides", () => {
  const limits = { maxFrameLength: 16, maxNamespaceLength: 4, maxEventLength: 3 };
  const packet = { type: 2, nsp: "/abc", id: 1, event: "xyz", payload: new Uint8Array(4) };
  const frame = encodePacket(packet, limits);
  assert.equal(frame.length, 16);
  assert.deepEqual(plain(decodePacket(frame, limits)), plain(packet));
  const big = { ...packet, payload: new Uint8Array(5) };
  assert.throws(() => encodePacket(big, limits), (e) => e.code === "frame_too_large");
  assert.throws(() => decodePacket(encodePacket(big), limits), (e) => e.code === "frame_too_large");
  const nsp = { ...packet, nsp: "/abcd", payload: undefined };
  assert.throws(() => encodePacket(nsp, limits), (e) => e.code === "too_long");
  assert.throws(() => decodePacket(encodePacket(nsp), limits), (e) => e.code === "too_long");
  const ev = { ...packet, event: "wxyz", payload: undefined };
  assert.throws(() => encodePacket(ev, limits), (e) => e.code === "too_long");
  assert.throws(() => decodePacket(encodePacket(ev), limits), (e) => e.code === "too_long");
});

test("encodePacket refuses packets the decoder would refuse", () => {
  const fails = (packet, code) => assert.throws(() => encodePacket(packet), (e) => e.code === code, code);
  fails({ type: 5, event: "e" }, "unknown_kind");
  fails({ type: 2, nsp: "game", event: "e" }, "invalid_namespace");
  fails({ type: 2, nsp: "/a,b", event: "e" }, "invalid_namespace");
  fails({ type: 2 }, "event_mismatch");
  fails({ type: 2, event: "e", eventId: 1 }, "event_mismatch");
  fails({ type: 0, event: "e" }, "event_mismatch");
  fails({ type: 2, eventId: 2 ** 32 }, "event_id_out_of_range");
  fails({ type: 3 }, "missing_ack_id");
  fails({ type: 1, id: 1 }, "unexpected_ack_id");
  fails({ type: 1, payload: new Uint8Array(1) }, "trailing_bytes");
  fails({ type: 4 }, "missing_payload");
  fails({ type: 2, event: "e", id: -1 }, "invalid_value");
  // Large ack ids: numbers up to 2^53 - 1, BigInts beyond.
  const frame = encodePacket({ type: 3, id: 2n ** 64n - 1n });
  assert.equal(hex(frame), "0113ffffffffffffffffff01");
  assert.equal(decodePacket(frame).id, 2n ** 64n - 1n);
  assert.equal(decodePacket(encodePacket({ type: 3, id: 2 ** 40 })).id, 2 ** 40);
});
