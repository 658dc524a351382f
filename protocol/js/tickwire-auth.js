// Session tokens of a tickwire server, for the official socket.io-client (and any client
// with the same `auth`, `connected`, `on`/`off`, `emitWithAck` surface): a dependency-free
// ES module.
//
// The server issues a token (an HTTP route of the app) and checks it when the socket
// connects with `auth: { token }`. Before the token expires, this module renews it over the
// socket: it emits "tw:renew" (no argument) with an ack and gets `{ token, exp, error,
// message }` back (a new token and its exp in seconds since the epoch with `error` empty, or
// `token` empty and the refusal's code in `error`), while the socket keeps its id, rooms and
// session. Each new token goes into `socket.auth`, so a reconnection presents the fresh one.
//
// With the compact codec (tickwire-compact.js), register the two events' shapes:
//
//   "tw:renew": { payload: null, ack: t.struct({ token: t.string, exp: t.u53, error: t.string, message: t.string }) },
//   "tw:unauthorized": t.struct({ code: t.string, message: t.string }),
//
//   import { io } from "socket.io-client";
//   import { keepRenewed } from "./tickwire-auth.js";
//
//   const first = await (await fetch("/token", { method: "POST" })).json(); // { token, exp }
//   const socket = io(url, { auth: { token: first.token } });
//   const session = keepRenewed(socket, first, {
//     // Optional: a new token when the server refuses this one (expired while offline, ...).
//     refresh: async (code) => (await fetch("/token", { method: "POST" })).json(),
//     onUnauthorized: ({ code, message }) => console.warn("signed out:", code, message),
//   });
//
// What the server says when it refuses a token (CONNECT_ERROR `err.message`, `err.data.code`,
// and the codes of a refused renewal): missing, malformed, expired, bad_signature, revoked,
// session_limit, unavailable. A socket whose token expired unrenewed, or whose session was
// revoked, gets "tw:unauthorized" `{ code, message }` and is disconnected by the server
// ("io server disconnect", which socket.io-client does not retry by itself).

/** The event a renewal travels as. */
export const RENEW_EVENT = "tw:renew";

/** The event the server emits before it disconnects a socket for its token. */
export const UNAUTHORIZED_EVENT = "tw:unauthorized";

/** Refusals a new token may cure (handed to `refresh`). */
export const REFRESHABLE = Object.freeze(["missing", "malformed", "expired", "bad_signature", "session_limit"]);

/** A renewal the server refused, or that got no answer. */
export class RenewError extends Error {
  /**
   * @param {string} code the server's code (`revoked`, `unavailable`, ...) or `timeout`
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = "RenewError";
    this.code = code;
  }
}

const DEFAULTS = Object.freeze({
  /** ms before `exp` to renew; `undefined`: when two thirds of the time left have passed. */
  renewBefore: undefined,
  /** ms one renewal waits for its answer. */
  attemptTimeout: 5000,
  /** ms before a failed renewal (no answer, `unavailable`) is tried again. */
  retryDelay: 1000,
});

/** Codes after which renewing again is pointless. */
const FINAL = new Set(["revoked", "session_limit", "missing"]);

/**
 * A session token and the sockets that present it.
 *
 * @param {{token: string, exp: number}} initial the token and its expiry (s since the epoch)
 * @param {object} [options]
 * @param {number} [options.renewBefore] ms before expiry to renew (default: after two thirds
 *   of the time left)
 * @param {number} [options.attemptTimeout] ms a renewal waits for its answer (default 5000)
 * @param {number} [options.retryDelay] ms before a failed renewal is retried (default 1000)
 * @param {(session: {token: string, exp: number}) => void} [options.onToken] each new token
 * @param {(why: {code: string, message: string}) => void} [options.onUnauthorized] the server
 *   refused or ended the session and no new token came of `refresh`
 * @param {(code: string) => Promise<{token: string, exp: number} | null>} [options.refresh] a
 *   new token after a refusal; the socket then connects again with it
 * @param {() => number} [options.now] the clock in ms (default `Date.now`)
 * @param {(fn: () => void, ms: number) => any} [options.setTimer] default `setTimeout`
 * @param {(timer: any) => void} [options.clearTimer] default `clearTimeout`
 */
export function createTokenSession(initial, options = {}) {
  const settings = { ...DEFAULTS, ...options };
  const now = options.now ?? Date.now;
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((timer) => clearTimeout(timer));
  let current = check(initial);
  const sockets = new Set();

  function check(session) {
    if (!session || typeof session.token !== "string" || !Number.isFinite(session.exp)) {
      throw new TypeError("a session is { token: string, exp: seconds since the epoch }");
    }
    return { token: session.token, exp: session.exp, receivedAt: now() };
  }

  function present(socket) {
    const auth = socket.auth && typeof socket.auth === "object" ? socket.auth : {};
    socket.auth = { ...auth, token: current.token };
  }

  /** ms from now until the renewal of the current token is due. */
  function dueIn() {
    const expMs = current.exp * 1000;
    const at =
      settings.renewBefore === undefined
        ? current.receivedAt + ((expMs - current.receivedAt) * 2) / 3
        : expMs - settings.renewBefore;
    return Math.max(0, at - now());
  }

  const session = {
    get token() {
      return current.token;
    },
    get exp() {
      return current.exp;
    },

    /** Take a new token (renewed, or fetched): every attached socket presents it next. */
    update(next) {
      current = check(next);
      for (const entry of sockets) {
        present(entry.socket);
        entry.schedule();
      }
      options.onToken?.({ token: current.token, exp: current.exp });
    },

    /**
     * Renew now over `socket`; resolves with `{ token, exp }` (also taken by `update`),
     * rejects with a `RenewError`.
     */
    async renew(socket) {
      let reply;
      try {
        const emitter = typeof socket.timeout === "function" ? socket.timeout(settings.attemptTimeout) : socket;
        reply = await emitter.emitWithAck(RENEW_EVENT);
      } catch (error) {
        throw new RenewError("timeout", `no answer to ${RENEW_EVENT}: ${error?.message ?? error}`);
      }
      // `{ token, exp, error, message }`: a token and `error` empty, or the reverse.
      if (reply && typeof reply.token === "string" && reply.token !== "" && !reply.error) {
        session.update({ token: reply.token, exp: Number(reply.exp) });
        return { token: reply.token, exp: Number(reply.exp) };
      }
      throw new RenewError(reply?.error || "malformed", reply?.message || "renewal refused");
    },

    /**
     * Keep `socket` presenting the current token and renew it before expiry while the
     * socket is connected. Returns a function that detaches it.
     */
    attach(socket) {
      let timer = null;
      let ended = false;
      const cancel = () => {
        if (timer !== null) clearTimer(timer);
        timer = null;
      };
      const unauthorized = (why) => {
        cancel();
        options.onUnauthorized?.(why);
      };
      const refreshAndConnect = async (code, message) => {
        if (!options.refresh) return unauthorized({ code, message });
        let next = null;
        try {
          next = await options.refresh(code);
        } catch {
          next = null;
        }
        if (!next) return unauthorized({ code, message });
        session.update(next);
        socket.connect?.();
      };
      const renewSoon = () => {
        cancel();
        if (!socket.connected || ended) return;
        timer = setTimer(async () => {
          timer = null;
          try {
            await session.renew(socket);
          } catch (error) {
            if (FINAL.has(error.code)) return; // the server ends the socket, or it ends at exp
            if (now() < current.exp * 1000) {
              cancel();
              timer = setTimer(renewSoon, settings.retryDelay);
            }
          }
        }, dueIn());
      };
      const entry = { socket, schedule: renewSoon };
      const onConnect = () => renewSoon();
      const onDisconnect = () => cancel();
      const onUnauthorized = (why) => {
        cancel();
        const code = why?.code ?? "expired";
        const message = why?.message ?? "token expired";
        // The server disconnects right after this event: reconnect once that happened.
        const after = () => {
          socket.off?.("disconnect", after);
          if (code === "revoked" || !options.refresh) unauthorized({ code, message });
          else refreshAndConnect(code, message);
        };
        socket.on("disconnect", after);
      };
      const onConnectError = (err) => {
        const code = err?.data?.code;
        if (!code) return; // not a token refusal (a transport error, ...)
        if (REFRESHABLE.includes(code)) refreshAndConnect(code, err.message);
        else unauthorized({ code, message: err.message });
      };
      sockets.add(entry);
      present(socket);
      socket.on("connect", onConnect);
      socket.on("disconnect", onDisconnect);
      socket.on(UNAUTHORIZED_EVENT, onUnauthorized);
      socket.on("connect_error", onConnectError);
      if (socket.connected) renewSoon();
      return () => {
        ended = true;
        cancel();
        sockets.delete(entry);
        socket.off?.("connect", onConnect);
        socket.off?.("disconnect", onDisconnect);
        socket.off?.(UNAUTHORIZED_EVENT, onUnauthorized);
        socket.off?.("connect_error", onConnectError);
      };
    },
  };
  return session;
}

/**
 * Attach `socket` to a new token session starting with `initial` (`{ token, exp }`); see
 * `createTokenSession` for the options. Returns the session (`session.token` is the
 * current token; `session.attach(other)` adds another socket).
 */
export function keepRenewed(socket, initial, options = {}) {
  const session = createTokenSession(initial, options);
  session.attach(socket);
  return session;
}
