// tickwire compact codec for browsers and Node: a dependency-free ES module.
//
// The format is specified byte by byte in protocol/docs/compact-codec.md; this module and the
// Rust codec (protocol/src/compact) are checked against the same golden vectors
// (protocol/tests/vectors/compact.json).
//
// Contents:
//   - encodePacket / decodePacket: one compact frame <-> one packet object.
//   - Writer / Reader: postcard primitives (varints, zigzag, floats, strings, options, ...).
//   - types: schema combinators built on Writer / Reader (struct, tuple, vec, option, enum, ...),
//     and toPayload / fromPayload to turn a value into payload bytes and back.
//   - createParser: a socket.io-client custom `parser` ({ Encoder, Decoder }) that speaks the
//     compact codec, with a registry mapping event names to payload types.
//
// Every decoding failure throws a CompactError (with a stable `code`); nothing in here loops
// longer than the input is long.

/** The format version this module writes and the only one it reads. */
export const VERSION = 1;

/**
 * Socket.IO packet types, numbered as in socket.io-parser. Compact frames carry only the first
 * five: BINARY_EVENT and BINARY_ACK are accepted by the parser's Encoder and sent as EVENT and
 * ACK, since compact payloads are binary already.
 */
export const PacketType = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

/** The server's default limits; a frame over them is refused when decoding. */
export const DEFAULT_LIMITS = Object.freeze({
  maxFrameLength: 1_000_000,
  maxNamespaceLength: 256,
  maxEventLength: 256,
});

/**
 * Every error this module throws on bad input or a value it cannot encode.
 *
 * `code` is stable and names the failure: the header codes are the same as the Rust codec's
 * (`truncated`, `unsupported_version`, `unknown_kind`, `reserved_bits`, `varint_overflow`,
 * `non_canonical_varint`, `too_long`, `invalid_utf8`, `invalid_namespace`,
 * `event_id_out_of_range`, `unexpected_ack_id`, `missing_ack_id`, `event_mismatch`,
 * `trailing_bytes`, `missing_payload`, `frame_too_large`, `invalid_json`); payload codes are
 * `unexpected_end`, `bad_varint`, `bad_bool`, `bad_option`, `bad_char`, `bad_enum`,
 * `out_of_range`, `invalid_value`, `trailing_bytes`; the parser adds `no_schema`,
 * `argument_count`, `unknown_event_id`, `text_frame`, `unsupported_chunk`.
 */
export class CompactError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "CompactError";
    this.code = code;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes, UTF-8
// ---------------------------------------------------------------------------------------------

const EMPTY = new Uint8Array(0);
const utf8Encoder = new TextEncoder();
// `fatal` refuses invalid UTF-8; `ignoreBOM` keeps a leading U+FEFF, as Rust does.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * View binary data as a Uint8Array without copying.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {Uint8Array}
 */
export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new CompactError("invalid_value", "expected an ArrayBuffer or a typed array");
}

function isBinary(value) {
  return value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function decodeUtf8(bytes, code, what) {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw new CompactError(code, `invalid UTF-8 in the ${what}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Header varints: LEB128, at most 10 bytes, canonical (shortest form only)
// ---------------------------------------------------------------------------------------------

/** The number (or BigInt, above 2^53 - 1) at `pos`, and the position after it. */
function readHeaderVarint(bytes, pos, field) {
  let value = 0;
  let mul = 1;
  let big = null;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= bytes.length) throw new CompactError("truncated", `frame truncated in the ${field}`);
    const byte = bytes[pos + i];
    if (i === 9 && byte > 0x01) throw new CompactError("varint_overflow", `varint overflow in the ${field}`);
    const group = byte & 0x7f;
    if (i < 7) {
      value += group * mul;
      mul *= 128;
    } else {
      if (big === null) big = BigInt(value);
      big += BigInt(group) << BigInt(7 * i);
    }
    if ((byte & 0x80) === 0) {
      if (byte === 0 && i > 0) {
        throw new CompactError("non_canonical_varint", `non-canonical varint in the ${field}`);
      }
      if (big !== null) value = big <= MAX_SAFE_BIG ? Number(big) : big;
      return [value, pos + i + 1];
    }
  }
  // Unreachable: the tenth byte either ends the varint or fails above.
  throw new CompactError("varint_overflow", `varint overflow in the ${field}`);
}

/** Unsigned LEB128 bytes of a non-negative safe integer or a BigInt below 2^64. */
function headerVarintBytes(value, what) {
  const out = [];
  if (typeof value === "bigint") {
    if (value < 0n || value >= 1n << 64n) {
      throw new CompactError("invalid_value", `${what} must be an unsigned 64-bit integer`);
    }
    while (value >= 0x80n) {
      out.push(Number(value & 0x7fn) | 0x80);
      value >>= 7n;
    }
    out.push(Number(value));
    return out;
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CompactError("invalid_value", `${what} must be a non-negative safe integer or a BigInt`);
  }
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Frames
// ---------------------------------------------------------------------------------------------

const KIND_MASK = 0x07;
const FLAG_NSP = 0x08;
const FLAG_ACK_ID = 0x10;
const RESERVED = 0xe0;
const KIND_NAMES = ["CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR"];

function checkNamespace(bytes) {
  if (bytes.length < 2 || bytes[0] !== 0x2f || bytes.includes(0x2c)) {
    throw new CompactError(
      "invalid_namespace",
      "a namespace must start with '/', not be '/' alone when written out, and contain no ','",
    );
  }
}

function limitsOf(limits) {
  return limits ? { ...DEFAULT_LIMITS, ...limits } : DEFAULT_LIMITS;
}

/**
 * A compact packet.
 * @typedef {object} CompactPacket
 * @property {number} type PacketType.CONNECT ... PacketType.CONNECT_ERROR.
 * @property {string} [nsp] The namespace, "/" when absent.
 * @property {number | bigint} [id] The ack id: optional on EVENT, required on ACK.
 * @property {string} [event] The event name (EVENT; exclusive with eventId).
 * @property {number} [eventId] The numeric event id (EVENT; exclusive with event).
 * @property {Uint8Array} [payload] Postcard bytes (EVENT, ACK), UTF-8 JSON (CONNECT,
 *   CONNECT_ERROR), nothing (DISCONNECT). Empty means "no argument".
 */

/**
 * Encode one packet as one frame (a websocket binary message).
 *
 * Throws a CompactError, and writes nothing, for a packet the decoder would refuse; lengths
 * are checked only when `limits` is given.
 * @param {CompactPacket} packet
 * @param {Partial<typeof DEFAULT_LIMITS>} [limits]
 * @returns {Uint8Array}
 */
export function encodePacket(packet, limits) {
  const type = packet.type;
  if (!Number.isInteger(type) || type < 0 || type > 4) {
    throw new CompactError("unknown_kind", `unknown compact packet kind ${type}`);
  }
  const nsp = packet.nsp ?? "/";
  const payload = packet.payload == null ? EMPTY : asBytes(packet.payload);
  const max = limits ? limitsOf(limits) : null;
  let flags = type;

  let nspBytes = null;
  if (nsp !== "/") {
    nspBytes = utf8Encoder.encode(nsp);
    checkNamespace(nspBytes);
    if (max && nspBytes.length > max.maxNamespaceLength) {
      throw new CompactError("too_long", `namespace length ${nspBytes.length} is over the limit`);
    }
    flags |= FLAG_NSP;
  }

  let idBytes = null;
  if (packet.id != null) {
    if (type !== PacketType.EVENT && type !== PacketType.ACK) {
      throw new CompactError("unexpected_ack_id", `${KIND_NAMES[type]} packets carry no ack id`);
    }
    idBytes = headerVarintBytes(packet.id, "the ack id");
    flags |= FLAG_ACK_ID;
  } else if (type === PacketType.ACK) {
    throw new CompactError("missing_ack_id", "ACK packet without an ack id");
  }

  let eventBytes = null;
  let tagBytes = null;
  const hasName = packet.event != null;
  const hasId = packet.eventId != null;
  if (type === PacketType.EVENT) {
    if (hasName === hasId) {
      throw new CompactError("event_mismatch", "an EVENT needs exactly one of event and eventId");
    }
    if (hasName) {
      eventBytes = utf8Encoder.encode(String(packet.event));
      if (max && eventBytes.length > max.maxEventLength) {
        throw new CompactError("too_long", `event name length ${eventBytes.length} is over the limit`);
      }
      tagBytes = headerVarintBytes(eventBytes.length * 2, "the event name length");
    } else {
      const n = packet.eventId;
      if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
        throw new CompactError("event_id_out_of_range", `numeric event id ${n} is out of range`);
      }
      tagBytes = headerVarintBytes(n * 2 + 1, "the event id");
    }
  } else if (hasName || hasId) {
    throw new CompactError("event_mismatch", `${KIND_NAMES[type]} packets carry no event`);
  }

  if (type === PacketType.DISCONNECT && payload.length > 0) {
    throw new CompactError("trailing_bytes", `${payload.length} trailing bytes after a DISCONNECT packet`);
  }
  if (type === PacketType.CONNECT_ERROR && payload.length === 0) {
    throw new CompactError("missing_payload", "CONNECT_ERROR packet without a payload");
  }

  let length = 2 + payload.length;
  if (nspBytes) length += headerVarintBytes(nspBytes.length, "").length + nspBytes.length;
  if (idBytes) length += idBytes.length;
  if (tagBytes) length += tagBytes.length + (eventBytes ? eventBytes.length : 0);
  if (max && length > max.maxFrameLength) {
    throw new CompactError("frame_too_large", `compact frame of ${length} bytes is over the limit`);
  }

  const out = new Uint8Array(length);
  let pos = 0;
  out[pos++] = VERSION;
  out[pos++] = flags;
  if (nspBytes) {
    for (const b of headerVarintBytes(nspBytes.length, "")) out[pos++] = b;
    out.set(nspBytes, pos);
    pos += nspBytes.length;
  }
  if (idBytes) for (const b of idBytes) out[pos++] = b;
  if (tagBytes) {
    for (const b of tagBytes) out[pos++] = b;
    if (eventBytes) {
      out.set(eventBytes, pos);
      pos += eventBytes.length;
    }
  }
  out.set(payload, pos);
  return out;
}

/**
 * Decode one frame. The returned payload is a view into the frame, not a copy.
 *
 * Throws a CompactError for anything the format does not allow; every length is checked
 * against its limit and against the bytes left before it is used.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @param {Partial<typeof DEFAULT_LIMITS>} [limits]
 * @returns {CompactPacket & { nsp: string, payload: Uint8Array }}
 */
export function decodePacket(data, limits) {
  const bytes = asBytes(data);
  const max = limitsOf(limits);
  if (bytes.length > max.maxFrameLength) {
    throw new CompactError("frame_too_large", `compact frame of ${bytes.length} bytes is over the limit`);
  }
  if (bytes.length < 1) throw new CompactError("truncated", "frame truncated in the version");
  if (bytes[0] !== VERSION) {
    throw new CompactError("unsupported_version", `unsupported compact format version ${bytes[0]}`);
  }
  if (bytes.length < 2) throw new CompactError("truncated", "frame truncated in the kind");
  const flags = bytes[1];
  if (flags & RESERVED) throw new CompactError("reserved_bits", "reserved bits set in the kind byte");
  const type = flags & KIND_MASK;
  if (type > 4) throw new CompactError("unknown_kind", `unknown compact packet kind ${type}`);
  let pos = 2;

  let nsp = "/";
  if (flags & FLAG_NSP) {
    let len;
    [len, pos] = readHeaderVarint(bytes, pos, "namespace");
    if (len > max.maxNamespaceLength) {
      throw new CompactError("too_long", `namespace length ${len} is over the limit`);
    }
    if (len > bytes.length - pos) throw new CompactError("truncated", "frame truncated in the namespace");
    const raw = bytes.subarray(pos, pos + len);
    checkNamespace(raw);
    nsp = decodeUtf8(raw, "invalid_utf8", "namespace");
    pos += len;
  }

  const packet = { type, nsp };
  if (flags & FLAG_ACK_ID) {
    if (type !== PacketType.EVENT && type !== PacketType.ACK) {
      throw new CompactError("unexpected_ack_id", `${KIND_NAMES[type]} packets carry no ack id`);
    }
    [packet.id, pos] = readHeaderVarint(bytes, pos, "ack id");
  } else if (type === PacketType.ACK) {
    throw new CompactError("missing_ack_id", "ACK packet without an ack id");
  }

  if (type === PacketType.EVENT) {
    let tag;
    [tag, pos] = readHeaderVarint(bytes, pos, "event");
    const big = typeof tag === "bigint";
    const odd = big ? (tag & 1n) === 1n : tag % 2 === 1;
    if (odd) {
      const id = big ? tag >> 1n : (tag - 1) / 2;
      if (big || id > 0xffffffff) {
        throw new CompactError("event_id_out_of_range", `numeric event id ${id} is out of range`);
      }
      packet.eventId = id;
    } else {
      const len = big ? tag >> 1n : tag / 2;
      if (big || len > max.maxEventLength) {
        throw new CompactError("too_long", `event name length ${len} is over the limit`);
      }
      if (len > bytes.length - pos) throw new CompactError("truncated", "frame truncated in the event");
      packet.event = decodeUtf8(bytes.subarray(pos, pos + len), "invalid_utf8", "event");
      pos += len;
    }
  }

  const rest = bytes.length - pos;
  if (type === PacketType.DISCONNECT && rest > 0) {
    throw new CompactError("trailing_bytes", `${rest} trailing bytes after a DISCONNECT packet`);
  }
  if (type === PacketType.CONNECT_ERROR && rest === 0) {
    throw new CompactError("missing_payload", "CONNECT_ERROR packet without a payload");
  }
  packet.payload = bytes.subarray(pos);
  return packet;
}

// ---------------------------------------------------------------------------------------------
// Postcard: Writer / Reader
// ---------------------------------------------------------------------------------------------

function invalid(message) {
  return new CompactError("invalid_value", message);
}

/** Appends postcard values to a growing buffer. */
export class Writer {
  /** @param {number} [capacity] initial buffer size in bytes */
  constructor(capacity = 64) {
    this._buf = new Uint8Array(Math.max(8, capacity));
    this._view = new DataView(this._buf.buffer);
    this._len = 0;
  }

  _reserve(n) {
    if (this._len + n <= this._buf.length) return;
    let size = this._buf.length * 2;
    while (size < this._len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this._buf.subarray(0, this._len));
    this._buf = next;
    this._view = new DataView(next.buffer);
  }

  _byte(b) {
    this._reserve(1);
    this._buf[this._len++] = b;
  }

  /** Unsigned varint of a value below 2^bits (a number, or a BigInt). */
  _uvar(value, bits, what) {
    if (typeof value === "bigint") {
      if (value < 0n || value >= 1n << BigInt(bits)) throw invalid(`${what} out of range: ${value}`);
      if (value <= MAX_SAFE_BIG) return this._uvar(Number(value), bits, what);
      this._reserve(19);
      while (value >= 0x80n) {
        this._buf[this._len++] = Number(value & 0x7fn) | 0x80;
        value >>= 7n;
      }
      this._buf[this._len++] = Number(value);
      return this;
    }
    const limit = bits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** bits - 1;
    if (!Number.isInteger(value) || value < 0 || value > limit) {
      throw invalid(`${what} out of range: ${value}`);
    }
    this._reserve(10);
    while (value >= 0x80) {
      this._buf[this._len++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this._buf[this._len++] = value;
    return this;
  }

  /** Signed varint: zigzag (0, -1, 1, -2, ... as 0, 1, 2, 3, ...), then unsigned. */
  _ivar(value, bits, what) {
    if (bits <= 32 && typeof value === "number") {
      const min = -(2 ** (bits - 1));
      if (!Number.isInteger(value) || value < min || value > -min - 1) {
        throw invalid(`${what} out of range: ${value}`);
      }
      return this._uvar(((value << 1) ^ (value >> 31)) >>> 0, bits, what);
    }
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
      throw invalid(`${what} must be a safe integer or a BigInt: ${value}`);
    }
    const v = BigInt(value);
    const half = 1n << BigInt(bits - 1);
    if (v < -half || v >= half) throw invalid(`${what} out of range: ${value}`);
    return this._uvar(v >= 0n ? v << 1n : (-v << 1n) - 1n, bits, what);
  }

  /** @param {number} v 0..=255, one raw byte */
  u8(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw invalid(`u8 out of range: ${v}`);
    this._byte(v);
    return this;
  }

  /** @param {number} v -128..=127, one raw byte (two's complement) */
  i8(v) {
    if (!Number.isInteger(v) || v < -0x80 || v > 0x7f) throw invalid(`i8 out of range: ${v}`);
    this._byte(v & 0xff);
    return this;
  }

  /** @param {boolean} v one byte, 0 or 1 */
  bool(v) {
    if (typeof v !== "boolean") throw invalid(`expected a boolean, got ${typeof v}`);
    this._byte(v ? 1 : 0);
    return this;
  }

  /** @param {number} v varint */
  u16(v) { return this._uvar(v, 16, "u16"); }
  /** @param {number} v varint */
  u32(v) { return this._uvar(v, 32, "u32"); }
  /** @param {number | bigint} v varint; numbers above 2^53 - 1 must be BigInts */
  u64(v) { return this._uvar(v, 64, "u64"); }
  /** @param {number | bigint} v varint */
  u128(v) { return this._uvar(v, 128, "u128"); }
  /** @param {number | bigint} v Rust's usize: a u64 varint */
  usize(v) { return this._uvar(v, 64, "usize"); }
  /** @param {number} v zigzag varint */
  i16(v) { return this._ivar(v, 16, "i16"); }
  /** @param {number} v zigzag varint */
  i32(v) { return this._ivar(v, 32, "i32"); }
  /** @param {number | bigint} v zigzag varint */
  i64(v) { return this._ivar(v, 64, "i64"); }
  /** @param {number | bigint} v zigzag varint */
  i128(v) { return this._ivar(v, 128, "i128"); }
  /** @param {number | bigint} v Rust's isize: an i64 zigzag varint */
  isize(v) { return this._ivar(v, 64, "isize"); }

  /** @param {number} v 4 bytes, IEEE 754 little-endian (rounded to single precision) */
  f32(v) {
    if (typeof v !== "number") throw invalid(`expected a number, got ${typeof v}`);
    this._reserve(4);
    this._view.setFloat32(this._len, v, true);
    this._len += 4;
    return this;
  }

  /** @param {number} v 8 bytes, IEEE 754 little-endian */
  f64(v) {
    if (typeof v !== "number") throw invalid(`expected a number, got ${typeof v}`);
    this._reserve(8);
    this._view.setFloat64(this._len, v, true);
    this._len += 8;
    return this;
  }

  /** @param {Uint8Array | ArrayBuffer | ArrayBufferView} v varint length, then the bytes */
  bytes(v) {
    const bytes = asBytes(v);
    this._uvar(bytes.length, 64, "length");
    this._reserve(bytes.length);
    this._buf.set(bytes, this._len);
    this._len += bytes.length;
    return this;
  }

  /** @param {string} v varint length, then UTF-8 */
  string(v) {
    if (typeof v !== "string") throw invalid(`expected a string, got ${typeof v}`);
    return this.bytes(utf8Encoder.encode(v));
  }

  /** @param {string} v one character: written as a string (postcard's `char`) */
  char(v) {
    if (typeof v !== "string" || [...v].length !== 1) throw invalid("expected one character");
    return this.string(v);
  }

  /**
   * Option: 0 for null / undefined, else 1 and the value.
   * @template T
   * @param {T | null | undefined} v
   * @param {(w: Writer, v: T) => void} write
   */
  option(v, write) {
    if (v == null) {
      this._byte(0);
    } else {
      this._byte(1);
      write(this, v);
    }
    return this;
  }

  /**
   * Sequence: varint length, then the elements.
   * @template T
   * @param {ArrayLike<T>} items
   * @param {(w: Writer, v: T) => void} write
   */
  seq(items, write) {
    if (items == null || typeof items.length !== "number") throw invalid("expected an array");
    this._uvar(items.length, 64, "length");
    for (let i = 0; i < items.length; i++) write(this, items[i]);
    return this;
  }

  /** The bytes written so far (a view into the writer's buffer). */
  finish() {
    return this._buf.subarray(0, this._len);
  }
}

/** Reads postcard values from the front of a byte buffer. */
export class Reader {
  /** @param {ArrayBuffer | ArrayBufferView} data */
  constructor(data) {
    this._bytes = asBytes(data);
    this._view = new DataView(this._bytes.buffer, this._bytes.byteOffset, this._bytes.byteLength);
    this.pos = 0;
  }

  /** Bytes not read yet. */
  remaining() {
    return this._bytes.length - this.pos;
  }

  /** Throw `trailing_bytes` unless every byte was read. */
  end() {
    if (this.remaining() > 0) {
      throw new CompactError("trailing_bytes", `${this.remaining()} trailing bytes after the payload value`);
    }
  }

  _need(n) {
    if (n > this.remaining()) throw new CompactError("unexpected_end", "payload ended early");
  }

  _byte() {
    this._need(1);
    return this._bytes[this.pos++];
  }

  /** Unsigned varint of at most `maxBytes` bytes, the last one at most `lastMax` (postcard's rules). */
  _uvar(maxBytes, lastMax) {
    let value = 0;
    let mul = 1;
    let big = null;
    for (let i = 0; i < maxBytes; i++) {
      const byte = this._byte();
      const group = byte & 0x7f;
      if (i < 7) {
        value += group * mul;
        mul *= 128;
      } else {
        if (big === null) big = BigInt(value);
        big += BigInt(group) << BigInt(7 * i);
      }
      if ((byte & 0x80) === 0) {
        if (i === maxBytes - 1 && byte > lastMax) throw new CompactError("bad_varint", "varint out of range");
        if (big === null) return value;
        return big <= MAX_SAFE_BIG ? Number(big) : big;
      }
    }
    throw new CompactError("bad_varint", "varint too long");
  }

  /** @returns {number} */
  u8() { return this._byte(); }
  /** @returns {number} */
  i8() { return (this._byte() << 24) >> 24; }
  /** @returns {boolean} */
  bool() {
    const b = this._byte();
    if (b > 1) throw new CompactError("bad_bool", `invalid bool byte ${b}`);
    return b === 1;
  }
  /** @returns {number} */
  u16() { return this._uvar(3, 0x03); }
  /** @returns {number} */
  u32() { return this._uvar(5, 0x0f); }
  /** @returns {bigint} */
  u64() { return BigInt(this._uvar(10, 0x01)); }
  /** A u64 on the wire, as a number; refuses values above 2^53 - 1. @returns {number} */
  u53() {
    const v = this._uvar(10, 0x01);
    if (typeof v === "bigint") throw new CompactError("out_of_range", `u64 ${v} does not fit a JS number`);
    return v;
  }
  /** @returns {bigint} */
  u128() { return BigInt(this._uvar(19, 0x03)); }
  /** Rust's usize (a u64 varint), as a number. @returns {number} */
  usize() { return this.u53(); }
  /** @returns {number} */
  i16() {
    const z = this._uvar(3, 0x03);
    return (z >>> 1) ^ -(z & 1);
  }
  /** @returns {number} */
  i32() {
    const z = this._uvar(5, 0x0f);
    return (z >>> 1) ^ -(z & 1);
  }
  /** @returns {bigint} */
  i64() { return unzigzag(BigInt(this._uvar(10, 0x01))); }
  /** An i64 on the wire, as a number; refuses values beyond ±(2^53 - 1). @returns {number} */
  i53() {
    const v = this.i64();
    if (v > MAX_SAFE_BIG || v < -MAX_SAFE_BIG) {
      throw new CompactError("out_of_range", `i64 ${v} does not fit a JS number`);
    }
    return Number(v);
  }
  /** @returns {bigint} */
  i128() { return unzigzag(BigInt(this._uvar(19, 0x03))); }
  /** Rust's isize (an i64 zigzag varint), as a number. @returns {number} */
  isize() { return this.i53(); }
  /** @returns {number} */
  f32() {
    this._need(4);
    const v = this._view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** @returns {number} */
  f64() {
    this._need(8);
    const v = this._view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A length-prefixed byte string, as a view into the input. @returns {Uint8Array} */
  bytes() {
    const len = this._length();
    const out = this._bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }
  /** @returns {string} */
  string() {
    return decodeUtf8(this.bytes(), "bad_utf8", "payload");
  }
  /** @returns {string} */
  char() {
    const len = this._length();
    if (len > 4) throw new CompactError("bad_char", "a char takes at most 4 bytes");
    const s = decodeUtf8(this._bytes.subarray(this.pos, this.pos + len), "bad_char", "char");
    this.pos += len;
    if ([...s].length !== 1) throw new CompactError("bad_char", "expected one character");
    return s;
  }
  /**
   * @template T
   * @param {(r: Reader) => T} read
   * @returns {T | null}
   */
  option(read) {
    const tag = this._byte();
    if (tag === 0) return null;
    if (tag === 1) return read(this);
    throw new CompactError("bad_option", `invalid option tag ${tag}`);
  }
  /**
   * A sequence. Its announced length must fit in the bytes left (so sequences of zero-sized
   * elements longer than that are refused: a deliberate limit of this module).
   * @template T
   * @param {(r: Reader) => T} read
   * @returns {T[]}
   */
  seq(read) {
    const len = this._length();
    const out = [];
    for (let i = 0; i < len; i++) out.push(read(this));
    return out;
  }

  /** A varint length, checked against the bytes left. */
  _length() {
    const len = this._uvar(10, 0x01);
    if (typeof len === "bigint" || len > this.remaining()) {
      throw new CompactError("unexpected_end", `length ${len} runs past the payload`);
    }
    return len;
  }
}

function unzigzag(z) {
  return (z >> 1n) ^ -(z & 1n);
}

// ---------------------------------------------------------------------------------------------
// Schema combinators
// ---------------------------------------------------------------------------------------------

/**
 * A payload type: how to write a value and read it back.
 * @template T
 * @typedef {{ encode: (w: Writer, v: T) => void, decode: (r: Reader) => T, spread?: boolean }} Codec
 */

function primitive(name) {
  return Object.freeze({ encode: (w, v) => w[name](v), decode: (r) => r[name]() });
}

const INTEGER_KEY = /^(0|[1-9][0-9]*)$/;

/**
 * Payload types, named after Rust's, writing what serde + postcard write for them.
 *
 * Numbers: u8 / i8 / u16 / i16 / u32 / i32 / f32 / f64 read as numbers; u64 / i64 / u128 /
 * i128 read as BigInts (and write numbers or BigInts); u53 / i53 / usize / isize are the 64-bit
 * wire types read as numbers, refusing values a number cannot hold exactly.
 */
export const types = Object.freeze({
  u8: primitive("u8"),
  i8: primitive("i8"),
  bool: primitive("bool"),
  u16: primitive("u16"),
  u32: primitive("u32"),
  u64: primitive("u64"),
  u53: Object.freeze({ encode: (w, v) => w.u64(v), decode: (r) => r.u53() }),
  u128: primitive("u128"),
  usize: primitive("usize"),
  i16: primitive("i16"),
  i32: primitive("i32"),
  i64: primitive("i64"),
  i53: Object.freeze({ encode: (w, v) => w.i64(v), decode: (r) => r.i53() }),
  i128: primitive("i128"),
  isize: primitive("isize"),
  f32: primitive("f32"),
  f64: primitive("f64"),
  string: primitive("string"),
  char: primitive("char"),
  /** `Vec<u8>` with `serde_bytes`, or `&[u8]`: a Uint8Array (decoded as a view). */
  bytes: primitive("bytes"),
  /** `()` and unit structs: nothing on the wire; reads as null. */
  unit: Object.freeze({ encode: () => {}, decode: () => null }),

  /** `Option<T>`: null / undefined is None. */
  option(codec) {
    return Object.freeze({
      encode: (w, v) => w.option(v, codec.encode),
      decode: (r) => r.option(codec.decode),
    });
  },

  /** `Vec<T>`, `[T]`, `VecDeque<T>`, `HashSet<T>`, ...: an array. */
  vec(codec) {
    return Object.freeze({
      encode: (w, v) => w.seq(v, codec.encode),
      decode: (r) => r.seq(codec.decode),
    });
  },

  /** `[T; N]`: exactly N elements, no length on the wire. */
  array(codec, n) {
    return Object.freeze({
      encode(w, v) {
        if (v == null || v.length !== n) throw invalid(`expected an array of ${n} elements`);
        for (let i = 0; i < n; i++) codec.encode(w, v[i]);
      },
      decode(r) {
        const out = new Array(n);
        for (let i = 0; i < n; i++) out[i] = codec.decode(r);
        return out;
      },
    });
  },

  /** A tuple or tuple struct: an array of the elements, no length on the wire. */
  tuple(...codecs) {
    return Object.freeze({
      encode(w, v) {
        if (v == null || v.length !== codecs.length) {
          throw invalid(`expected a tuple of ${codecs.length} elements`);
        }
        for (let i = 0; i < codecs.length; i++) codecs[i].encode(w, v[i]);
      },
      decode: (r) => codecs.map((c) => c.decode(r)),
    });
  },

  /**
   * A struct: its fields in declaration order, no names on the wire. Declare the fields in the
   * Rust order; integer-like field names are refused (JS objects reorder them).
   * @param {Record<string, Codec<any>>} fields
   */
  struct(fields) {
    const entries = Object.entries(fields);
    for (const [name] of entries) {
      if (INTEGER_KEY.test(name)) throw new TypeError(`struct field name ${name} is integer-like`);
    }
    return Object.freeze({
      encode(w, v) {
        if (v == null || typeof v !== "object") throw invalid("expected an object");
        for (const [name, codec] of entries) codec.encode(w, v[name]);
      },
      decode(r) {
        const out = {};
        for (const [name, codec] of entries) out[name] = codec.decode(r);
        return out;
      },
    });
  },

  /**
   * An enum, in serde's externally tagged JSON shape: a unit variant is its name (a string),
   * any other variant `{ Name: value }`. Declare the variants in the Rust order (the index is
   * the wire tag), `null` for unit variants.
   * @param {Record<string, Codec<any> | null>} variants
   */
  enumOf(variants) {
    const entries = Object.entries(variants);
    const index = new Map(entries.map(([name], i) => [name, i]));
    return Object.freeze({
      encode(w, v) {
        const name = typeof v === "string" ? v : v && typeof v === "object" ? Object.keys(v)[0] : undefined;
        const i = index.get(name);
        if (i === undefined) throw invalid(`unknown enum variant ${name}`);
        const codec = entries[i][1];
        if ((codec === null) !== (typeof v === "string")) {
          throw invalid(`variant ${name} ${codec === null ? "carries no value" : "needs a value"}`);
        }
        w.u32(i);
        if (codec !== null) codec.encode(w, v[name]);
      },
      decode(r) {
        const i = r.u32();
        if (i >= entries.length) throw new CompactError("bad_enum", `unknown enum variant index ${i}`);
        const [name, codec] = entries[i];
        return codec === null ? name : { [name]: codec.decode(r) };
      },
    });
  },

  /** A map: decoded as a Map; encodes a Map or a plain object's entries. */
  map(keyCodec, valueCodec) {
    return Object.freeze({
      encode(w, v) {
        const items = v instanceof Map ? [...v] : Object.entries(v ?? {});
        w.seq(items, (w2, [k, val]) => {
          keyCodec.encode(w2, k);
          valueCodec.encode(w2, val);
        });
      },
      decode(r) {
        const out = new Map();
        for (const [k, v] of r.seq((r2) => [keyCodec.decode(r2), valueCodec.decode(r2)])) out.set(k, v);
        return out;
      },
    });
  },

  /**
   * Several Socket.IO arguments carried as one postcard tuple (Rust: a tuple payload). In the
   * parser's registry, an event declared with `args(...)` is emitted and received with one
   * argument per element instead of one array.
   */
  args(...codecs) {
    return Object.freeze({ ...types.tuple(...codecs), spread: true });
  },
});

/**
 * Serialize `value` as a payload of type `codec`.
 * @template T
 * @param {Codec<T>} codec
 * @param {T} value
 * @returns {Uint8Array}
 */
export function toPayload(codec, value) {
  const w = new Writer();
  codec.encode(w, value);
  return w.finish();
}

/**
 * Deserialize a payload of type `codec`, refusing trailing bytes.
 * @template T
 * @param {Codec<T>} codec
 * @param {ArrayBuffer | ArrayBufferView} bytes
 * @returns {T}
 */
export function fromPayload(codec, bytes) {
  const r = new Reader(bytes);
  const value = codec.decode(r);
  r.end();
  return value;
}

// ---------------------------------------------------------------------------------------------
// socket.io-client custom parser
// ---------------------------------------------------------------------------------------------

/** The part of component-emitter's interface socket.io-client uses on a Decoder. */
class Emitter {
  constructor() {
    this._listeners = new Map();
  }
  on(event, fn) {
    const list = this._listeners.get(event);
    if (list) list.push(fn);
    else this._listeners.set(event, [fn]);
    return this;
  }
  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper.fn = fn;
    return this.on(event, wrapper);
  }
  off(event, fn) {
    if (event === undefined) {
      this._listeners.clear();
      return this;
    }
    if (fn === undefined) {
      this._listeners.delete(event);
      return this;
    }
    const list = this._listeners.get(event);
    if (list) {
      const i = list.findIndex((l) => l === fn || l.fn === fn);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this._listeners.delete(event);
    }
    return this;
  }
  removeListener(event, fn) {
    return this.off(event, fn);
  }
  removeAllListeners(event) {
    return this.off(event);
  }
  emit(event, ...args) {
    const list = this._listeners.get(event);
    if (list) for (const fn of list.slice()) fn.apply(this, args);
    return this;
  }
  emitReserved(event, ...args) {
    return this.emit(event, ...args);
  }
  listeners(event) {
    return (this._listeners.get(event) ?? []).slice();
  }
  hasListeners(event) {
    return this.listeners(event).length > 0;
  }
}

/**
 * Which event each pending ack id belongs to, so that an ACK's payload can be typed: one table
 * per connection, shared by its Encoder and Decoder. Bounded: the oldest entry goes first.
 */
class AckTable {
  constructor(max) {
    this.max = max;
    this.awaiting = new Map(); // we sent EVENT with an id; the peer's ACK will come
    this.owed = new Map(); // the peer sent EVENT with an id; our ACK will go
  }
  static key(nsp, id) {
    return `${nsp}\u0000${id}`;
  }
  put(map, nsp, id, event) {
    map.set(AckTable.key(nsp, id), event);
    if (map.size > this.max) map.delete(map.keys().next().value);
  }
  take(map, nsp, id) {
    const key = AckTable.key(nsp, id);
    const event = map.get(key);
    map.delete(key);
    return event;
  }
  clear() {
    this.awaiting.clear();
    this.owed.clear();
  }
}

function normalizeSpec(name, spec) {
  if (spec === null) return { payload: null, ack: undefined };
  if (spec && typeof spec.encode === "function" && typeof spec.decode === "function") {
    return { payload: spec, ack: undefined };
  }
  if (spec && typeof spec === "object" && ("payload" in spec || "ack" in spec)) {
    return { payload: spec.payload, ack: spec.ack };
  }
  throw new TypeError(`event ${name}: expected a codec, null, or { payload, ack }`);
}

/** Socket.IO arguments -> payload bytes, per the registered codec. */
function argsToPayload(codec, args, what) {
  if (codec === null) {
    if (args.length > 0) throw new CompactError("argument_count", `${what} takes no argument`);
    return EMPTY;
  }
  if (codec === undefined) {
    if (args.length === 0) return EMPTY;
    if (args.length === 1 && isBinary(args[0])) return asBytes(args[0]);
    throw new CompactError("no_schema", `${what} has no registered payload type`);
  }
  if (codec.spread) return toPayload(codec, args);
  if (args.length !== 1) {
    throw new CompactError("argument_count", `${what} takes exactly one argument, got ${args.length}`);
  }
  return toPayload(codec, args[0]);
}

/** Payload bytes -> Socket.IO arguments, per the registered codec. */
function payloadToArgs(codec, payload) {
  if (codec === null) {
    if (payload.length > 0) {
      throw new CompactError("trailing_bytes", `${payload.length} bytes where no argument was expected`);
    }
    return [];
  }
  if (codec === undefined) return payload.length === 0 ? [] : [payload];
  const value = fromPayload(codec, payload);
  return codec.spread ? value : [value];
}

function jsonBytes(value) {
  return value === undefined ? EMPTY : utf8Encoder.encode(JSON.stringify(value));
}

function parseJson(payload) {
  if (payload.length === 0) return undefined;
  const text = decodeUtf8(payload, "invalid_json", "JSON payload");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CompactError("invalid_json", `invalid JSON payload: ${e.message}`);
  }
}

/**
 * A socket.io-client custom parser speaking the compact codec.
 *
 * ```js
 * import { io } from "socket.io-client";
 * import { createParser, types as t } from "./tickwire-compact.js";
 *
 * const Player = t.struct({ id: t.u32, x: t.f32, y: t.f32, last_input_seq: t.u32, hp: t.u8 });
 * const parser = createParser({
 *   events: {
 *     state: t.struct({ tick: t.u53, players: t.vec(Player) }), // one argument
 *     input: { payload: Input, ack: t.u32 },                      // with an ack's type
 *     ping: null,                                                 // no argument
 *     hit: t.args(t.u32, t.i53),                                  // two arguments
 *   },
 *   eventIds: ["state", "input"], // sent as numeric ids 0 and 1; the server has the same table
 * });
 * const socket = io(url, { parser, query: { codec: "compact" } });
 * ```
 *
 * Events not in the registry travel as raw bytes: emitting one takes no argument or one
 * Uint8Array / ArrayBuffer, and receiving one gives no argument or one Uint8Array.
 * CONNECT and CONNECT_ERROR payloads are JSON, as in the JSON codec.
 *
 * An ACK's type is the `ack` of the event its id answered. socket.io-client builds its Encoder
 * and then its Decoder, one pair per connection; the pair shares a table of pending ack ids
 * (bounded by `maxPendingAcks`, default 4096 per direction). Use one parser per `io()`
 * connection.
 *
 * @param {object} [options]
 * @param {Record<string, Codec<any> | null | { payload?: Codec<any> | null, ack?: Codec<any> | null }>} [options.events]
 * @param {string[]} [options.eventIds] names sent as numeric ids (the id is the index)
 * @param {Partial<typeof DEFAULT_LIMITS>} [options.limits] limits for frames in both directions
 * @param {number} [options.maxPendingAcks]
 */
export function createParser(options = {}) {
  const events = new Map();
  for (const [name, spec] of Object.entries(options.events ?? {})) {
    events.set(name, normalizeSpec(name, spec));
  }
  const eventIds = [...(options.eventIds ?? [])];
  const idOf = new Map(eventIds.map((name, i) => [name, i]));
  if (idOf.size !== eventIds.length) throw new TypeError("eventIds has a duplicate name");
  const limits = limitsOf(options.limits);
  const maxPendingAcks = options.maxPendingAcks ?? 4096;
  let unpaired = null;

  /** socket.io-parser's Encoder interface: `encode(packet)` returns the frames to write. */
  class Encoder {
    constructor() {
      this.acks = new AckTable(maxPendingAcks);
      unpaired = this.acks;
    }

    /**
     * @param {{ type: number, nsp?: string, data?: any, id?: number | bigint }} packet
     * @returns {Uint8Array[]}
     */
    encode(packet) {
      const nsp = packet.nsp ?? "/";
      const id = packet.id ?? undefined;
      switch (packet.type) {
        case PacketType.CONNECT:
          return [encodePacket({ type: PacketType.CONNECT, nsp, payload: jsonBytes(packet.data) }, limits)];
        case PacketType.DISCONNECT:
          return [encodePacket({ type: PacketType.DISCONNECT, nsp }, limits)];
        case PacketType.CONNECT_ERROR:
          return [encodePacket({ type: PacketType.CONNECT_ERROR, nsp, payload: jsonBytes(packet.data) }, limits)];
        case PacketType.EVENT:
        case PacketType.BINARY_EVENT: {
          const [name, ...args] = packet.data ?? [];
          if (typeof name !== "string") throw new CompactError("invalid_value", "an event name must be a string");
          const payload = argsToPayload(events.get(name)?.payload, args, `event ${name}`);
          const eventId = idOf.get(name);
          const frame = encodePacket(
            eventId === undefined
              ? { type: PacketType.EVENT, nsp, id, event: name, payload }
              : { type: PacketType.EVENT, nsp, id, eventId, payload },
            limits,
          );
          if (id !== undefined) this.acks.put(this.acks.awaiting, nsp, id, name);
          return [frame];
        }
        case PacketType.ACK:
        case PacketType.BINARY_ACK: {
          const name = this.acks.take(this.acks.owed, nsp, id);
          const spec = name === undefined ? undefined : events.get(name)?.ack;
          const payload = argsToPayload(spec, packet.data ?? [], `the ack of ${name ?? "an unknown event"}`);
          return [encodePacket({ type: PacketType.ACK, nsp, id, payload }, limits)];
        }
        default:
          throw new CompactError("unknown_kind", `unknown packet type ${packet.type}`);
      }
    }
  }

  /** socket.io-parser's Decoder interface: `add(chunk)` emits "decoded" with each packet. */
  class Decoder extends Emitter {
    constructor() {
      super();
      this.acks = unpaired ?? new AckTable(maxPendingAcks);
      unpaired = null;
    }

    /** @param {string | ArrayBuffer | ArrayBufferView} chunk one Engine.IO message */
    add(chunk) {
      if (typeof chunk === "string") {
        throw new CompactError(
          "text_frame",
          "got a text message: the server speaks JSON on this connection (was codec=compact in the handshake query?)",
        );
      }
      if (!isBinary(chunk)) {
        throw new CompactError("unsupported_chunk", "expected binary data (set binaryType to \"arraybuffer\")");
      }
      this.emit("decoded", this.decode(chunk));
    }

    /**
     * Decode one frame into a socket.io packet object, without emitting it.
     * @param {ArrayBuffer | ArrayBufferView} chunk
     */
    decode(chunk) {
      const frame = decodePacket(chunk, limits);
      const packet = { type: frame.type, nsp: frame.nsp };
      if (frame.id !== undefined) packet.id = frame.id;
      switch (frame.type) {
        case PacketType.CONNECT: {
          const data = parseJson(frame.payload);
          if (data !== undefined) {
            if (data === null || typeof data !== "object" || Array.isArray(data)) {
              throw new CompactError("invalid_json", "a CONNECT payload must be a JSON object");
            }
            packet.data = data;
          }
          break;
        }
        case PacketType.CONNECT_ERROR: {
          const data = parseJson(frame.payload);
          if (data === null || (typeof data !== "object" && typeof data !== "string") || Array.isArray(data)) {
            throw new CompactError("invalid_json", "a CONNECT_ERROR payload must be a JSON object or string");
          }
          packet.data = data;
          break;
        }
        case PacketType.EVENT: {
          let name = frame.event;
          if (name === undefined) {
            name = eventIds[frame.eventId];
            if (name === undefined) throw new CompactError("unknown_event_id", `unknown event id ${frame.eventId}`);
          }
          packet.data = [name, ...payloadToArgs(events.get(name)?.payload, frame.payload)];
          if (frame.id !== undefined) this.acks.put(this.acks.owed, frame.nsp, frame.id, name);
          break;
        }
        case PacketType.ACK: {
          const name = this.acks.take(this.acks.awaiting, frame.nsp, frame.id);
          const spec = name === undefined ? undefined : events.get(name)?.ack;
          packet.data = payloadToArgs(spec, frame.payload);
          break;
        }
        default:
          break;
      }
      return packet;
    }

    /** Called by socket.io-client when the connection is cleaned up: forget pending acks. */
    destroy() {
      this.acks.clear();
    }
  }

  return Object.freeze({ protocol: 5, PacketType, Encoder, Decoder });
}
