// Two nodes of one cluster (two tickwire servers sharing a Redis), and the official
// socket.io-client on each: a websocket client on node A, a polling client on node B.
//
// - B joins room "red" (on node B); A asks node A to say something to "red": B hears it.
// - A asks node A for a broadcast with acks to everyone: both clients answer the "poll"
//   with their transport's name, and node A acks back the answers of both nodes.
//
// Env: TICKWIRE_URL (node A), TICKWIRE_URL_B (node B). Exits 0 when both checks pass.
import { io } from "socket.io-client";

const urlA = process.env.TICKWIRE_URL;
const urlB = process.env.TICKWIRE_URL_B;
if (!urlA || !urlB) {
  console.error("TICKWIRE_URL and TICKWIRE_URL_B must be set");
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error("cluster interop timed out");
  process.exit(1);
}, Number(process.env.TICKWIRE_INTEROP_TIMEOUT_MS ?? 30000));

function connect(url, transport) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: [transport], forceNew: true });
    socket.on("poll", (callback) => callback(transport));
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => reject(new Error(`${transport}: ${err.message}`)));
  });
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

const a = await connect(urlA, "websocket");
const b = await connect(urlB, "polling");

const joined = await b.timeout(5000).emitWithAck("join", "red");
if (joined !== "ok") fail(`join answered ${joined}`);
const heard = new Promise((resolve) => b.once("said", resolve));
await a.timeout(5000).emitWithAck("say", { room: "red", text: "hello from node A" });
const text = await heard;
if (text !== "hello from node A") fail(`B heard ${JSON.stringify(text)}`);

const answers = await a.timeout(10000).emitWithAck("poll-everyone");
if (JSON.stringify(answers) !== JSON.stringify(["polling", "websocket"])) {
  fail(`poll answers ${JSON.stringify(answers)}`);
}

a.close();
b.close();
clearTimeout(timer);
console.log("cluster interop: ok");
