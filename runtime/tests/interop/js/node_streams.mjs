// One cluster on one Redis stream: a Node socket.io server with the official
// @socket.io/redis-streams-adapter, and a tickwire node with `RedisStreamsAdapter`, both
// with connection state recovery. A socket.io-client on each: `cN` on the Node server, `cT`
// on the tickwire node.
//
// - broadcasts cross both ways, and every receiver sees the same stream id as offset;
// - a Node `socketsJoin` applies on the tickwire node before the broadcast that follows it;
// - a client of the Node server that drops recovers on the tickwire node (same socket id,
//   every missed broadcast once, in order), and the other way round.
//
// The tickwire node (runtime/tests/streams.rs) answers `count` [from, n] by broadcasting `m`
// with each number, then acks. Env: TICKWIRE_URL (the tickwire node), TICKWIRE_REDIS_URL.
// Exits 0 when every check passes.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";
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
  console.error(`node streams interop timed out at: ${step}`);
  process.exit(1);
}, Number(process.env.TICKWIRE_INTEROP_TIMEOUT_MS ?? 30000));

function check(ok, message) {
  if (!ok) {
    console.error(`${step}: ${message}`);
    process.exit(1);
  }
}

const OFFSET = /^[0-9]+-[0-9]+$/;

// The Node server, on the stream.
const redis = createClient({ url: redisUrl });
await redis.connect();
const http = createServer();
const N = new Server(http, {
  adapter: createAdapter(redis),
  connectionStateRecovery: { maxDisconnectionDuration: 60_000 },
});
N.on("connection", (socket) => {
  socket.on("count", ([from, n], ack) => {
    for (let i = from; i < from + n; i++) N.emit("m", i);
    ack(n);
  });
});
await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
const nodeUrl = `http://127.0.0.1:${http.address().port}`;

// A client that records every `m` as [number, offset]. With `resume` ({pid, offset}) it
// comes back as the client that held them would (the official client's own fields), here
// through another server.
function connect(url, name, resume) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, autoConnect: false });
    if (resume) {
      socket._pid = resume.pid;
      socket._lastOffset = resume.offset;
    }
    socket.ms = [];
    socket.on("m", (n, offset) => socket.ms.push([n, offset]));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`${name}: ${err.message}`)));
    socket.connect();
  });
}

// Resolves when `socket` has recorded `count` numbers.
async function received(socket, count) {
  while (socket.ms.length < count) await new Promise((resolve) => socket.once("m", resolve));
  return socket.ms.slice(0, count);
}

function numbers(ms) {
  return ms.map(([n]) => n);
}

const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);

const cN = await connect(nodeUrl, "node");
const cT = await connect(tickwireUrl, "tickwire");

step = "a Node broadcast reaches the tickwire node with the same stream ids";
{
  check((await cN.emitWithAck("count", [0, 3])) === 3, "ack of count");
  const atN = await received(cN, 3);
  const atT = await received(cT, 3);
  check(JSON.stringify(numbers(atT)) === JSON.stringify([0, 1, 2]), `tickwire got ${JSON.stringify(atT)}`);
  check(atN.every(([, o]) => OFFSET.test(o)), `Node offsets ${JSON.stringify(atN)}`);
  check(JSON.stringify(atN) === JSON.stringify(atT), `offsets differ: ${JSON.stringify(atN)} / ${JSON.stringify(atT)}`);
}

step = "a tickwire broadcast reaches the Node server with the same stream ids";
{
  check((await cT.emitWithAck("count", [3, 3])) === 3, "ack of count");
  const atT = await received(cT, 6);
  const atN = await received(cN, 6);
  check(JSON.stringify(numbers(atN)) === JSON.stringify(range(0, 6)), `Node got ${JSON.stringify(atN)}`);
  check(JSON.stringify(atN) === JSON.stringify(atT), `offsets differ: ${JSON.stringify(atN)} / ${JSON.stringify(atT)}`);
  const ids = atT.map(([, o]) => o);
  check(JSON.stringify([...ids].sort()) === JSON.stringify(ids) && new Set(ids).size === 6, `order ${ids}`);
}

step = "a Node socketsJoin applies on the tickwire node before the next broadcast";
{
  const got = new Promise((resolve) => cT.once("club", resolve));
  N.socketsJoin("club");
  N.to("club").emit("club", "members only");
  check((await got) === "members only", "club broadcast");
}

// Drops `socket` (its transport closes, so the server keeps its session), waits for the
// session in Redis, and returns what a reconnect sends: its pid and last offset.
async function drop(socket) {
  const pid = socket._pid;
  const offset = socket._lastOffset;
  check(typeof pid === "string" && OFFSET.test(offset ?? ""), `pid ${pid} offset ${offset}`);
  socket.io.engine.close();
  for (let i = 0; i < 200 && !(await redis.exists(`sio:session:${pid}`)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  check(await redis.exists(`sio:session:${pid}`), `no session in Redis for ${pid}`);
  return { pid, offset };
}

step = "a client of the Node server recovers on the tickwire node";
{
  const r = await connect(nodeUrl, "roamer");
  const id = r.id;
  check((await r.emitWithAck("count", [100, 2])) === 2, "ack of count");
  await received(r, 2);
  const auth = await drop(r);
  // Missed while away, from both servers.
  check((await cT.emitWithAck("count", [102, 2])) === 2, "ack of count");
  // The ack comes before the entries are in the stream (publishing does not wait for
  // Redis): once cT has them, they are, and Node's come after them.
  await received(cT, 6 + 4);
  check((await cN.emitWithAck("count", [104, 2])) === 2, "ack of count");
  await received(cT, 6 + 6);
  const back = await connect(tickwireUrl, "roamer on tickwire", auth);
  check(back.recovered === true, "recovered");
  check(back.id === id, `socket id ${back.id}, was ${id}`);
  const missed = await received(back, 4);
  check(JSON.stringify(numbers(missed)) === JSON.stringify(range(102, 4)), `missed ${JSON.stringify(missed)}`);
  const expected = cT.ms.slice(8, 12);
  check(JSON.stringify(missed) === JSON.stringify(expected), `offsets ${JSON.stringify(missed)} / ${JSON.stringify(expected)}`);
  // Then live again, nothing twice.
  check((await cT.emitWithAck("count", [106, 1])) === 1, "ack of count");
  const all = await received(back, 5);
  check(JSON.stringify(numbers(all)) === JSON.stringify(range(102, 5)), `after recovery ${JSON.stringify(back.ms)}`);
  back.disconnect();
}

step = "a client of the tickwire node recovers on the Node server";
{
  const r = await connect(tickwireUrl, "roamer");
  const id = r.id;
  check((await r.emitWithAck("count", [200, 2])) === 2, "ack of count");
  await received(r, 2);
  const auth = await drop(r);
  check((await cN.emitWithAck("count", [202, 2])) === 2, "ack of count");
  await received(cN, 13 + 4);
  check((await cT.emitWithAck("count", [204, 2])) === 2, "ack of count");
  await received(cN, 13 + 6);
  const back = await connect(nodeUrl, "roamer on Node", auth);
  check(back.recovered === true, "recovered");
  check(back.id === id, `socket id ${back.id}, was ${id}`);
  const missed = await received(back, 4);
  check(JSON.stringify(numbers(missed)) === JSON.stringify(range(202, 4)), `missed ${JSON.stringify(missed)}`);
  back.disconnect();
}

clearTimeout(timer);
cN.disconnect();
cT.disconnect();
N.close();
await redis.quit().catch(() => {});
console.log("node streams interop: ok");
process.exit(0);
