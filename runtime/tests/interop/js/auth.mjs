// Session tokens with the official socket.io-client and protocol/js/tickwire-auth.js.
//
// 1. Renewal (first, while the short tokens of A and B are fresh): client A renews over its
//    socket (keepRenewed) before its token expires; client B, whose token expires at the
//    same second, does not, and gets "tw:unauthorized" {code: "expired"} then "io server
//    disconnect". After that, A still has its socket id, is still in its room (a broadcast
//    to the room reaches it), and its socket.auth holds the renewed token; when its
//    transport is cut it reconnects with that token (the first one has expired by then, so
//    the server would refuse it).
// 2. Refusals: a connect without a token, and with a malformed, expired, altered,
//    foreign-signed or revoked one, gets connect_error with the reason as err.message and
//    err.data.code (and never connects).
//
// Env: TICKWIRE_URL, TICKWIRE_TOKENS (JSON: {a, b: {token, exp}, expired, altered, foreign,
// revoked: token strings}). The server's "/" joins each socket to "lobby"; "room-news"
// broadcasts its argument to "lobby" as "news" and acks "sent".
import { io } from "socket.io-client";
import { keepRenewed, UNAUTHORIZED_EVENT } from "../../../../protocol/js/tickwire-auth.js";

const url = process.env.TICKWIRE_URL;
const tokens = JSON.parse(process.env.TICKWIRE_TOKENS ?? "null");
const fail = (msg) => {
  console.error(msg);
  process.exit(1);
};
if (!url || !tokens) fail("TICKWIRE_URL and TICKWIRE_TOKENS must be set");
setTimeout(() => fail("auth interop timed out"), 30000);

const client = (auth, extra = {}) =>
  io(url, { auth, forceNew: true, reconnection: false, transports: ["websocket"], timeout: 5000, ...extra });

function refusal(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => reject(new Error("connected, but should have been refused")));
    socket.once("connect_error", (err) => resolve(err));
  });
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve(socket);
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message}`)));
  });
}

const once = (socket, event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));

// 1. Renewal (first: the tokens of A and B are a few seconds long).
const a = client({ token: tokens.a.token }, { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
const b = client({ token: tokens.b.token });
const bUnauthorized = once(b, UNAUTHORIZED_EVENT);
const bGone = once(b, "disconnect");
const renewed = new Promise((resolve) => {
  keepRenewed(a, tokens.a, {
    renewBefore: 3000,
    onToken: (session) => resolve(session),
    onUnauthorized: (why) => fail(`A was refused: ${JSON.stringify(why)}`),
  });
});
await Promise.all([connected(a), connected(b)]);
const firstId = a.id;
const news = [];
a.on("news", (text) => news.push(text));

const fresh = await renewed;
if (!(fresh.exp > tokens.a.exp)) fail(`renewed exp ${fresh.exp} is not after ${tokens.a.exp}`);
if (a.auth.token !== fresh.token || fresh.token === tokens.a.token) fail("socket.auth does not hold the renewed token");
console.log(`A renewed: exp ${tokens.a.exp} -> ${fresh.exp}`);

const [why] = await bUnauthorized;
if (why?.code !== "expired" || why?.message !== "token expired") fail(`B was told ${JSON.stringify(why)}`);
const [reason] = await bGone;
if (reason !== "io server disconnect") fail(`B disconnected with ${reason}`);
console.log(`B expired unrenewed: ${why.message}, then ${reason}`);

if (!a.connected || a.id !== firstId) fail(`A lost its session: connected ${a.connected}, id ${a.id} (was ${firstId})`);
const gotNews = new Promise((resolve) => a.once("news", resolve));
const ack = await a.timeout(5000).emitWithAck("room-news", "after the first expiry");
if (ack !== "sent") fail(`room-news acked ${JSON.stringify(ack)}`);
const text = await gotNews;
if (text !== "after the first expiry") fail(`A got ${JSON.stringify(text)}`);
console.log(`A kept its socket ${firstId} and its room past the first token's expiry`);

// Cut A's transport: it reconnects by itself, presenting the renewed token.
const reconnect = once(a, "connect");
a.io.engine.close();
await reconnect;
if (a.auth.token === tokens.a.token) fail("A reconnected with its first token");
console.log(`A reconnected with the renewed token (socket ${a.id})`);

// 2. Refusals.
const refusals = [
  ["missing", {}, "token missing"],
  ["not a string", { token: 42 }, "token malformed", "malformed"],
  ["garbage", { token: "not.a.token" }, "token malformed", "malformed"],
  ["oversized", { token: "x".repeat(8192) }, "token malformed", "malformed"],
  ["expired", { token: tokens.expired }, "token expired"],
  ["altered", { token: tokens.altered }, "token has a bad signature", "bad_signature"],
  ["foreign", { token: tokens.foreign }, "token has a bad signature", "bad_signature"],
  ["revoked", { token: tokens.revoked }, "token revoked"],
];
for (const [what, auth, message, code = what] of refusals) {
  const socket = client(auth);
  const err = await refusal(socket);
  socket.close();
  if (err.message !== message || err.data?.code !== code) {
    fail(`${what}: got ${JSON.stringify({ message: err.message, data: err.data })}`);
  }
  console.log(`refused ${what}: ${err.message} (${err.data.code})`);
}

a.close();
b.close();
console.log("auth interop passed");
process.exit(0);
