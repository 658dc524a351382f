// HTTPS and WSS with the official socket.io-client, and a certificate reload.
//
// 1. Over polling, websocket and upgrade (polling, then websocket), a client trusting the
//    server's CA (the `ca` option) connects and round-trips an ack.
// 2. A client trusting another CA is refused: connect_error, never connect.
// 3. A websocket client stays connected; the script prints READY and waits for a line on
//    stdin (the test swaps the certificate for one of the other CA and reloads). Then the
//    live websocket still round-trips acks on the same transport, a new client trusting the
//    first CA is refused, and new clients trusting the other CA connect. (A polling client
//    is left out of this part on purpose: each of its requests may open a new connection,
//    which is a new handshake and gets the new certificate.)
//
// Env: TICKWIRE_URL (https://localhost:PORT), TICKWIRE_CA (PEM of the CA the server's
// certificate is from), TICKWIRE_OTHER_CA (PEM of another CA; the server's after the
// reload). The server has an `echo` handler that acks its payload.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const url = process.env.TICKWIRE_URL;
const fail = (msg) => {
  console.error(msg);
  process.exit(1);
};
if (!url || !process.env.TICKWIRE_CA || !process.env.TICKWIRE_OTHER_CA) {
  fail("TICKWIRE_URL, TICKWIRE_CA and TICKWIRE_OTHER_CA must be set");
}
setTimeout(() => fail("tls interop timed out"), 40000);

const ca = readFileSync(process.env.TICKWIRE_CA, "utf8");
const otherCa = readFileSync(process.env.TICKWIRE_OTHER_CA, "utf8");

const modes = {
  polling: { transports: ["polling"], upgrade: false },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
};

function client(mode, trusted) {
  return io(url, { ...modes[mode], ca: trusted, forceNew: true, reconnection: false, timeout: 5000 });
}

// Connected, or the connect_error.
function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(err));
  });
}

async function echo(socket, what) {
  const payload = { what, n: 42, text: "x".repeat(3000) };
  const back = await socket.timeout(5000).emitWithAck("echo", payload);
  if (JSON.stringify(back) !== JSON.stringify(payload)) fail(`${what}: echo came back as ${JSON.stringify(back)}`);
}

async function upgraded(socket) {
  const deadline = Date.now() + 5000;
  while (socket.io.engine.transport.name !== "websocket") {
    if (Date.now() > deadline) fail("upgrade: still on polling after 5 s");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function refused(mode, trusted, what) {
  const socket = client(mode, trusted);
  try {
    await connected(socket);
  } catch (err) {
    socket.close();
    // What the application sees: the transport error, with the TLS reason underneath.
    const cause = err.description?.message ?? err.description?.error?.message ?? err.description ?? "";
    console.log(`${what} (${mode}): connect_error "${err.message}" (${cause})`);
    return;
  }
  socket.close();
  fail(`${what} (${mode}): connected, but the certificate should have been refused`);
}

// 1. Every transport, trusting the right CA.
for (const mode of Object.keys(modes)) {
  const socket = await connected(client(mode, ca)).catch((err) =>
    fail(`${mode}: connect_error ${err.message}: ${err.description?.message ?? ""}`),
  );
  if (mode === "upgrade") await upgraded(socket);
  await echo(socket, mode);
  socket.close();
  console.log(`${mode} over TLS ok`);
}

// 2. Trusting another CA.
await refused("polling", otherCa, "another CA");
await refused("websocket", otherCa, "another CA");

// 3. Live connections across a reload.
const liveWs = await connected(client("websocket", ca));
await echo(liveWs, "live websocket");
let dropped = null;
liveWs.on("disconnect", (reason) => (dropped ??= reason));
console.log("READY");
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once("line", resolve));
lines.close();

await echo(liveWs, "live websocket after the reload");
if (dropped) fail(`a live connection dropped across the reload (${dropped})`);
if (liveWs.io.engine.transport.name !== "websocket") fail("the live websocket changed transport");
await refused("websocket", ca, "after the reload, the old CA");
const fresh = await connected(client("websocket", otherCa)).catch((err) =>
  fail(`after the reload, the new CA: connect_error ${err.message}: ${err.description?.message ?? ""}`),
);
await echo(fresh, "new connection after the reload");
const freshPolling = await connected(client("polling", otherCa)).catch((err) =>
  fail(`after the reload, the new CA (polling): connect_error ${err.message}`),
);
await echo(freshPolling, "new polling connection after the reload");
await echo(liveWs, "live websocket at the end");
if (dropped || liveWs.disconnected) fail(`the live websocket dropped (${dropped})`);
console.log("reload ok");
for (const s of [liveWs, fresh, freshPolling]) s.close();
process.exit(0);
