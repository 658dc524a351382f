// A client of the sticky-free test: the official socket.io-client through a balancer with
// no affinity in front of two tickwire nodes. It connects (no reconnection: any transport
// error fails the run), round-trips acks, says `ready`, waits for a `news` broadcast from
// each node (`a` and `b`), with the default transports waits for the upgrade to websocket
// and round-trips acks again, then prints `result <json>` and exits.
//
// TICKWIRE_URL: the balancer. TRANSPORTS: polling | default. LIMIT_MS: how long.
import { io } from "socket.io-client";

const mode = process.env.TRANSPORTS || "default";
const limit = Number(process.env.LIMIT_MS || 30000);
const errors = [];
const news = new Set();
let acks = 0;
let ready = false;

const socket = io(process.env.TICKWIRE_URL, {
  ...(mode === "polling" ? { transports: ["polling"] } : {}),
  reconnection: false,
});

function finish(reason) {
  const transport = socket.io.engine ? socket.io.engine.transport.name : null;
  console.log(`result ${JSON.stringify({ reason, errors, news: [...news].sort(), acks, transport })}`);
  socket.disconnect();
  process.exit(0);
}

async function roundTrips(n) {
  for (let i = 0; i < n; i++) {
    const payload = { i, text: `echo ${i}` };
    const answer = await socket.timeout(5000).emitWithAck("echo", payload);
    if (JSON.stringify(answer) !== JSON.stringify(payload)) {
      errors.push(`ack ${i}: got ${JSON.stringify(answer)}`);
    }
    acks += 1;
  }
}

async function upgraded() {
  const engine = socket.io.engine;
  if (mode === "polling" || engine.transport.name === "websocket") return;
  await new Promise((resolve) => engine.once("upgrade", resolve));
}

async function maybeDone() {
  if (!ready || news.size < 2) return;
  ready = false;
  try {
    await upgraded();
    await roundTrips(5);
    finish("complete");
  } catch (e) {
    errors.push(`after the broadcasts: ${e}`);
    finish("error");
  }
}

socket.on("connect_error", (e) => errors.push(`connect_error ${e.message}`));
socket.on("disconnect", (reason) => errors.push(`disconnect ${reason}`));
socket.io.on("error", (e) => errors.push(`manager error ${e}`));
socket.on("news", (from) => {
  news.add(from);
  maybeDone();
});
socket.once("connect", async () => {
  socket.io.engine.on("upgradeError", (e) => errors.push(`upgradeError ${e.message}`));
  try {
    await roundTrips(20);
  } catch (e) {
    errors.push(`acks: ${e}`);
    finish("error");
  }
  ready = true;
  console.log("ready");
  maybeDone();
});
setTimeout(() => finish("timeout"), limit);
