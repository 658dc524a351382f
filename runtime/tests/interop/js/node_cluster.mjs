// One cluster of a Node socket.io server (with the official @socket.io/redis-adapter) and a
// tickwire node speaking that adapter's dialect (`RedisAdapter::node_compatible`), on one
// Redis. A socket.io-client on each: `cN` on the Node server, `cT` on the tickwire node.
//
// Node -> tickwire: broadcasts (binary and volatile included), `to`/`except` rooms,
// `socketsJoin`,
// `socketsLeave`, `fetchSockets`, a broadcast with acks, `serverSideEmit`,
// `disconnectSockets`.
// tickwire -> Node: broadcasts with `except`, a broadcast with acks, fetching sockets,
// server-side events, `sockets_join`, `sockets_leave`, `disconnect_sockets` (driven through
// the tickwire node's handlers, see runtime/tests/cluster.rs).
//
// Env: TICKWIRE_URL (the tickwire node), TICKWIRE_REDIS_URL. Exits 0 when every check passes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { io } from "socket.io-client";

const tickwireUrl = process.env.TICKWIRE_URL;
const redisUrl = process.env.TICKWIRE_REDIS_URL;
if (!tickwireUrl || !redisUrl) {
  console.error("TICKWIRE_URL and TICKWIRE_REDIS_URL must be set");
  process.exit(2);
}
let step = "start";
const timer = setTimeout(() => {
  console.error(`node cluster interop timed out at: ${step}`);
  process.exit(1);
}, Number(process.env.TICKWIRE_INTEROP_TIMEOUT_MS ?? 30000));

function check(ok, message) {
  if (!ok) {
    console.error(`${step}: ${message}`);
    process.exit(1);
  }
}

const once = (socket, event) => new Promise((resolve) => socket.once(event, (...args) => resolve(args)));

// The Node server, on the cluster.
const pub = createClient({ url: redisUrl });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);
const http = createServer();
const N = new Server(http, { adapter: createAdapter(pub, sub) });
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const nodeUrl = `http://127.0.0.1:${http.address().port}`;

function connect(url, name) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true });
    socket.on("poll", (callback) => callback(name));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`${name}: ${err.message}`)));
  });
}
const cN = await connect(nodeUrl, "node");
const cT = await connect(tickwireUrl, "tickwire");

// What cT receives, to check what it must not receive.
const seenByT = [];
cT.onAny((event) => seenByT.push(event));

step = "a Node broadcast, with binary, reaches the tickwire node";
{
  const got = once(cT, "from-node");
  N.emit("from-node", { n: 1, bin: Buffer.from([1, 2, 255]) });
  const [data] = await got;
  check(data.n === 1, `data ${JSON.stringify(data)}`);
  check(Buffer.from(data.bin).equals(Buffer.from([1, 2, 255])), `binary ${data.bin}`);
  const volatile = once(cT, "volatile");
  N.volatile.emit("volatile", 8);
  check((await volatile)[0] === 8, "volatile");
}

// What cN receives, to check what it must not receive.
const seenByN = [];
cN.onAny((event) => seenByN.push(event));

step = "a tickwire broadcast reaches the Node server's client";
{
  const got = once(cN, "from-tickwire");
  await cT.emitWithAck("broadcast", { event: "from-tickwire", data: "hi" });
  const [data] = await got;
  check(data === "hi", `data ${JSON.stringify(data)}`);
  // Leaving out cN's own room: cN gets the fence only.
  const fence = once(cN, "fence");
  await cT.emitWithAck("broadcast", { event: "not-for-n", data: 0, except: cN.id });
  await cT.emitWithAck("broadcast", { event: "fence", data: 0 });
  await fence;
  check(!seenByN.includes("not-for-n"), "cN got a broadcast that left it out");
}

step = "Node's to/except rooms select the tickwire node's sockets";
{
  await cT.emitWithAck("join", "red");
  const red = once(cT, "red");
  N.to("red").emit("red", 3);
  check((await red)[0] === 3, "red");
  const fence = once(cT, "fence");
  N.except("red").emit("not-red", 4);
  N.emit("fence");
  await fence;
  check(!seenByT.includes("not-red"), "cT is in red and got not-red");
}

step = "Node's socketsJoin reaches the tickwire node's sockets";
{
  N.in("red").socketsJoin("blue");
  const blue = once(cT, "blue");
  N.to("blue").emit("blue", 5);
  check((await blue)[0] === 5, "blue");
}

step = "Node's socketsLeave reaches the tickwire node's sockets";
{
  N.in(cT.id).socketsLeave("blue");
  const fence = once(cT, "fence");
  N.to("blue").emit("blue-again", 5);
  N.emit("fence");
  await fence;
  check(!seenByT.includes("blue-again"), "cT left blue and got blue-again");
  N.in("red").socketsJoin("blue");
}

step = "Node's fetchSockets describes the tickwire node's sockets";
{
  const sockets = await N.fetchSockets();
  const ids = sockets.map((s) => s.id).sort();
  check(JSON.stringify(ids) === JSON.stringify([cN.id, cT.id].sort()), `ids ${ids}`);
  const t = sockets.find((s) => s.id === cT.id);
  check(t.rooms.has("red") && t.rooms.has("blue") && t.rooms.has(cT.id), `rooms ${[...t.rooms]}`);
  check(t.handshake.query.EIO === "4", `query ${JSON.stringify(t.handshake.query)}`);
}

step = "Node's broadcast with acks collects the tickwire node's answers";
{
  const responses = await N.timeout(3000).emitWithAck("poll");
  check(JSON.stringify(responses.sort()) === JSON.stringify(["node", "tickwire"]), `responses ${responses}`);
}

step = "Node's serverSideEmit reaches the tickwire node's handler";
{
  const got = once(cN, "server-hello");
  N.serverSideEmit("hello", "from node");
  check((await got)[0] === "from node", "server-hello");
}

step = "the tickwire node's broadcast with acks collects the Node client's answer";
{
  const answers = await cT.timeout(5000).emitWithAck("poll-everyone");
  check(JSON.stringify(answers) === JSON.stringify(["node", "tickwire"]), `answers ${answers}`);
}

step = "the tickwire node fetches the Node server's sockets";
{
  const ids = await cT.timeout(5000).emitWithAck("fetch-everyone");
  check(JSON.stringify(ids) === JSON.stringify([cN.id, cT.id].sort()), `ids ${ids}`);
}

step = "the tickwire node's server-side event reaches the Node server";
{
  const got = new Promise((resolve) => N.on("tw-hello", resolve));
  await cT.emitWithAck("server-side", { event: "tw-hello", data: "from tickwire" });
  check((await got) === "from tickwire", "tw-hello");
}

step = "the tickwire node's sockets_join reaches the Node server's sockets";
{
  const green = once(cN, "green");
  await cT.emitWithAck("join-everyone", "green");
  check((await green)[0] === 6, "green");
}

step = "the tickwire node's sockets_leave reaches the Node server's sockets";
{
  const fence = once(cN, "fence");
  await cT.emitWithAck("leave-everyone", "green");
  await fence;
  check(!seenByN.includes("green-again"), "cN left green and got green-again");
}

step = "the tickwire node's disconnect_sockets reaches the Node server's socket";
{
  const gone = once(cN, "disconnect");
  await cT.emitWithAck("disconnect-socket", cN.id);
  check((await gone)[0] === "io server disconnect", "disconnect reason");
}

step = "Node's disconnectSockets reaches the tickwire node's socket";
{
  const gone = once(cT, "disconnect");
  N.in("red").disconnectSockets();
  check((await gone)[0] === "io server disconnect", "disconnect reason");
}

cT.close();
N.close();
await Promise.allSettled([pub.quit(), sub.quit()]);
clearTimeout(timer);
console.log("node cluster interop: ok");
process.exit(0);
