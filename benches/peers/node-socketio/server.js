// The Node socket.io 4.x peer of tickwire's benchmark server contract (benches/README.md):
// `ping` acks its argument, `join` joins a room and acks "ok", and with TICK_HZ set a ticker
// on absolute deadlines emits a stamped `state` event to every room that has members.
//
// Cluster (the contract's "Cluster and recovery" section): with REDIS_URL the node joins the
// cluster through @socket.io/redis-adapter (Redis pub/sub, on the `redis` client), and
// `publish` [from, count] emits `seq` {n: i} for each i in order to every socket of `/` on
// every node, then acks count.
//
//   node server.js --port P        (or PORT=P node server.js)
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function argPort() {
  const args = process.argv.slice(2);
  const i = args.indexOf("--port");
  if (i >= 0 && args[i + 1]) return Number(args[i + 1]);
  if (args[0] && /^\d+$/.test(args[0])) return Number(args[0]);
  if (process.env.PORT) return Number(process.env.PORT);
  return 3000;
}

const port = argPort();
const httpServer = http.createServer();
// TCP_NODELAY on accepted sockets.
httpServer.on("connection", (socket) => socket.setNoDelay(true));

const io = new Server(httpServer, {
  pingInterval: 25000,
  pingTimeout: 20000,
  perMessageDeflate: false,
  httpCompression: false,
});

// One request asks for at most this many numbers (as tickwire's bench-server).
const MAX_PUBLISH = 1000000;

io.on("connection", (socket) => {
  socket.on("publish", (args, ack) => {
    const [from, count] = Array.isArray(args) ? args.map(Number) : [NaN, NaN];
    if (!Number.isInteger(from) || !Number.isInteger(count) || from < 0 || count < 0) {
      if (typeof ack === "function") ack({ error: "publish takes [from, count]" });
      return;
    }
    const n = Math.min(count, MAX_PUBLISH);
    const nsp = io.of("/");
    for (let i = from; i < from + n; i++) nsp.emit("seq", { n: i });
    if (typeof ack === "function") ack(n);
  });
  socket.on("ping", (value, ack) => {
    if (typeof ack === "function") ack(value);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack("ok");
  });
});

// Realtime in integer microseconds. Date.now() has only millisecond resolution, so the
// clock is the high-resolution monotonic one anchored at the process's realtime origin.
function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

const hz = Number(process.env.TICK_HZ);
if (hz > 0) {
  const filler = "x".repeat(200);
  const periodMs = 1000 / hz;
  const start = performance.now();
  const nsp = io.of("/");
  let slot = 0;
  const fire = () => {
    // Late by whole periods: skip those slots rather than bunch them.
    const due = Math.floor((performance.now() - start) / periodMs);
    if (due > slot) slot = due;
    const t = nowMicros();
    const adapter = nsp.adapter;
    for (const [room, members] of adapter.rooms) {
      // A socket's private room is named by its id.
      if (members.size === 0 || adapter.sids.has(room)) continue;
      nsp.to(room).emit("state", { t, tick: slot, room, filler });
    }
    slot += 1;
    schedule();
  };
  const schedule = () => {
    const delay = start + slot * periodMs - performance.now();
    setTimeout(fire, Math.max(0, delay));
  };
  schedule();
}

async function joinCluster(url) {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pubClient = createClient({ url });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (err) => console.error(`redis: ${err.message}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient));
}

async function main() {
  if (process.env.REDIS_URL) await joinCluster(process.env.REDIS_URL);
  httpServer.listen(port, "127.0.0.1", () => {
    const cluster = process.env.REDIS_URL ? "redis" : "none";
    console.log(`node socket.io peer listening on 127.0.0.1:${port} (TICK_HZ=${process.env.TICK_HZ || "none"}, cluster=${cluster})`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
