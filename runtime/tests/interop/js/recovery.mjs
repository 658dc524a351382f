// Connection state recovery with the official socket.io-client: a client in room "r" loses
// its transport; while it is away another client makes the server broadcast twice to "r";
// the first client reconnects by itself, is recovered (same id) and gets both missed
// broadcasts in order, once each.
//
// Env: TICKWIRE_URL (a tickwire server with recovery on, `join` and `shout` handlers).
import { io } from "socket.io-client";

const url = process.env.TICKWIRE_URL;
const fail = (msg) => {
  console.error(msg);
  process.exit(1);
};
if (!url) fail("TICKWIRE_URL is not set");
setTimeout(() => fail("recovery interop timed out"), 20000);

const opts = { transports: ["websocket"], forceNew: true, reconnectionDelay: 300, reconnectionDelayMax: 300 };
const away = io(url, opts);
const other = io(url, opts);
const got = [];
let firstId;
let dropped = false;

away.on("m", (text) => got.push(text));
away.on("connect", async () => {
  if (!dropped) {
    firstId = away.id;
    if ((await away.timeout(5000).emitWithAck("join", "r")) !== "ok") fail("join failed");
    // Wait until the first broadcast arrived, so the client holds an offset.
    await other.timeout(5000).emitWithAck("shout", "before");
    while (!got.includes("before")) await new Promise((r) => setTimeout(r, 10));
    dropped = true;
    away.io.engine.close(); // an abnormal close: the manager reconnects
    return;
  }
  if (!away.recovered) fail("the socket was not recovered");
  if (away.id !== firstId) fail(`id changed: ${firstId} -> ${away.id}`);
  // The missed broadcasts arrive right after the reconnection.
  const deadline = Date.now() + 5000;
  while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const want = ["before", "missed-1", "missed-2"];
  if (JSON.stringify(got) !== JSON.stringify(want)) fail(`got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  console.log("recovery interop ok");
  away.close();
  other.close();
  process.exit(0);
});
away.on("disconnect", async () => {
  if (!dropped) return;
  await other.timeout(5000).emitWithAck("shout", "missed-1");
  await other.timeout(5000).emitWithAck("shout", "missed-2");
});
