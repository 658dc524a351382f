// Exactly-once emits to a tickwire server, for the official socket.io-client: a
// dependency-free ES module.
//
// An emit sent with `emitOnce` gets an emit id and travels as the event "tw:once":
// `["tw:once", "<emit id>", "<event>", ...args]`, with an ack. It is re-sent with the same
// emit id (and a new ack id) until it is acknowledged; the server runs the event's handler
// for the first copy only and answers every copy with that run's answer. Exactly-once holds
// within the server's window of remembered ids (256 per socket by default) and the
// Socket.IO session: across a reconnection it needs connection state recovery on the server
// (the official client claims its session back by itself).
//
// The client's own `retries` option is no substitute: it re-sends with a new ack id and
// nothing stable, so the server cannot tell a retry from a new emit.
//
//   import { io } from "socket.io-client";
//   import { emitOnce } from "./tickwire-once.js";
//
//   const socket = io(url);
//   const receipt = await emitOnce(socket, "buy", { item: 7 });
//
// With the compact codec (tickwire-compact.js), register the envelope's type in the parser,
// and pass the real event's payload as bytes:
//
//   const parser = createParser({ events: { "tw:once": t.args(t.string, t.string, t.bytes) } });
//   const answer = await emitOnce(socket, "buy", toPayload(Order, order)); // a Uint8Array
//   const receipt = fromPayload(Receipt, answer);

/** The event an exactly-once emit travels as. */
export const ONCE_EVENT = "tw:once";

/** The longest emit id a tickwire server accepts, in bytes. */
export const MAX_EMIT_ID_LENGTH = 64;

/** Thrown when no attempt was acknowledged in time: the event may or may not have run. */
export class EmitOnceTimeout extends Error {
  /**
   * @param {string} id the emit id
   * @param {number} attempts how many copies were sent
   * @param {unknown} cause the last attempt's error
   */
  constructor(id, attempts, cause) {
    super(`emit ${id} not acknowledged after ${attempts} attempt(s)`, { cause });
    this.name = "EmitOnceTimeout";
    this.id = id;
    this.attempts = attempts;
  }
}

function randomHex64() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A generator of emit ids: a random 64-bit prefix and a counter (`"<16 hex>-<n>"`), unique
 * for as long as the page or process lives.
 * @returns {() => string}
 */
export function emitIds() {
  const prefix = randomHex64();
  let next = 0;
  return () => `${prefix}-${(next++).toString(16)}`;
}

const DEFAULTS = Object.freeze({
  /** How long one attempt waits for its ack, in ms. */
  attemptTimeout: 2000,
  /** How long all attempts may take, in ms. */
  timeout: 30_000,
  /** Most copies sent. */
  maxAttempts: Infinity,
});

/**
 * An `emitOnce` with its own settings.
 *
 * @param {object} [options]
 * @param {number} [options.attemptTimeout] ms one attempt waits for its ack (default 2000)
 * @param {number} [options.timeout] ms all attempts may take (default 30000)
 * @param {number} [options.maxAttempts] most copies sent (default unlimited)
 * @param {() => string} [options.newId] the emit id source (default `emitIds()`)
 * @param {() => number} [options.now] the clock, in ms (default `Date.now`)
 * @returns {(socket: any, event: string, ...args: any[]) => Promise<any>}
 */
export function createEmitOnce(options = {}) {
  const settings = { ...DEFAULTS, ...options };
  const newId = options.newId ?? emitIds();
  const now = options.now ?? Date.now;
  if (!(settings.attemptTimeout > 0)) throw new TypeError("attemptTimeout must be positive");
  if (!(settings.maxAttempts >= 1)) throw new TypeError("maxAttempts must be at least 1");

  return async function emitOnce(socket, event, ...args) {
    if (typeof event !== "string" || event === ONCE_EVENT) {
      throw new TypeError(`emitOnce: the event must be a string other than ${ONCE_EVENT}`);
    }
    const id = newId();
    if (typeof id !== "string" || id.length === 0 || new TextEncoder().encode(id).length > MAX_EMIT_ID_LENGTH) {
      throw new TypeError(`emitOnce: an emit id is a non-empty string of at most ${MAX_EMIT_ID_LENGTH} bytes`);
    }
    const deadline = now() + settings.timeout;
    let attempts = 0;
    let lastError;
    while (attempts < settings.maxAttempts) {
      const left = deadline - now();
      if (left <= 0) break;
      attempts += 1;
      try {
        // A disconnected socket buffers the emit until it is back; a timed-out attempt is
        // taken out of that buffer by socket.io-client.
        return await socket.timeout(Math.min(left, settings.attemptTimeout)).emitWithAck(ONCE_EVENT, id, event, ...args);
      } catch (error) {
        // socket.io-client rejects a timed emitWithAck only for its timeout: try again.
        lastError = error;
      }
    }
    throw new EmitOnceTimeout(id, attempts, lastError);
  };
}

/**
 * Emit `event` with `args` so that a tickwire server handles it once, retrying with the same
 * emit id every 2 s for up to 30 s; resolves with the ack's first argument (as
 * `emitWithAck` does), rejects with an `EmitOnceTimeout`.
 */
export const emitOnce = createEmitOnce();
