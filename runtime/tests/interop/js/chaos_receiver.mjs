// A receiver of the chaos test: the official socket.io-client, websocket only, connected
// through a proxy that sends each (re)connection to the other node. It records every `seq`
// event's number, says on stdout when it connects (`connected <recovered>`) and when it has
// received its first 100 (`got 100`), and when it has all of them (or time runs out) prints
// `result <json>` and exits.
//
// TICKWIRE_URL: the proxy. EXPECT: how many numbers (0 .. EXPECT-1). LIMIT_MS: how long.
import { io } from "socket.io-client";

const expect = Number(process.env.EXPECT);
const limit = Number(process.env.LIMIT_MS || 30000);
const received = [];
let connects = 0;
let recoveries = 0;

const socket = io(process.env.TICKWIRE_URL, {
  transports: ["websocket"],
  reconnectionDelay: 50,
  reconnectionDelayMax: 200,
  randomizationFactor: 0,
});

function finish(reason) {
  console.log(`result ${JSON.stringify({ reason, received, connects, recoveries, recovered: socket.recovered })}`);
  socket.disconnect();
  process.exit(0);
}

socket.on("connect", () => {
  connects += 1;
  if (socket.recovered) recoveries += 1;
  console.log(`connected ${socket.recovered}`);
});
socket.on("seq", (data) => {
  received.push(data.n);
  if (received.length === 100) console.log("got 100");
  if (received.length >= expect) finish("complete");
});
setTimeout(() => finish("timeout"), limit);
