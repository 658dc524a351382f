// Mixed codecs in one room: two official socket.io-client JSON clients and one
// socket.io-client using tickwire's compact parser (protocol/js/tickwire-compact.js).
// A fourth member (a Rust compact client) is driven by the Rust test that runs this script.
//
// Each client joins "mixed"; when the server says "ready" (4 members) each shouts once with
// an ack, must hear all 4 shouts, and must answer the server's "question" with an ack, after
// which the server sends "verdict". Exits 0 when all three clients are done.
//
// Env: TICKWIRE_URL (http://127.0.0.1:PORT).
import { io } from "socket.io-client";
import { createParser, types as t } from "../../../../protocol/js/tickwire-compact.js";

const url = process.env.TICKWIRE_URL;
if (!url) {
  console.error("TICKWIRE_URL is not set");
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error("mixed-codec interop timed out");
  process.exit(1);
}, Number(process.env.TICKWIRE_INTEROP_TIMEOUT_MS ?? 30000));

const Shout = t.struct({ from: t.string, n: t.u32 });
const Question = t.struct({ x: t.u32 });
const parser = createParser({
  events: {
    join: { payload: t.string, ack: t.string },
    ready: t.u32,
    shout: { payload: Shout, ack: t.u32 },
    heard: Shout,
    question: { payload: Question, ack: t.u32 },
    verdict: t.bool,
  },
});

function run(name, n, options) {
  return new Promise((resolve, reject) => {
    const socket = io(url, { transports: ["websocket"], forceNew: true, ...options });
    const heard = new Set();
    let acked = false;
    let verdict = false;
    const check = () => {
      if (acked && verdict && heard.size === 4) {
        socket.close();
        resolve(name);
      }
    };
    socket.on("connect_error", (err) => reject(new Error(`${name}: connect_error ${err.message}`)));
    socket.on("connect", async () => {
      const ok = await socket.timeout(5000).emitWithAck("join", "mixed");
      if (ok !== "ok") reject(new Error(`${name}: join answered ${ok}`));
    });
    socket.on("ready", async (count) => {
      if (count !== 4) return reject(new Error(`${name}: ready with ${count}`));
      const reply = await socket.timeout(5000).emitWithAck("shout", { from: name, n });
      if (reply !== n + 1) return reject(new Error(`${name}: shout acked ${reply}, want ${n + 1}`));
      acked = true;
      check();
    });
    socket.on("heard", (shout) => {
      if (typeof shout?.from !== "string" || typeof shout?.n !== "number") {
        return reject(new Error(`${name}: bad shout ${JSON.stringify(shout)}`));
      }
      heard.add(shout.from);
      check();
    });
    socket.on("question", (q, answer) => answer(q.x * 2));
    socket.on("verdict", (v) => {
      if (v !== true) return reject(new Error(`${name}: verdict ${v}`));
      verdict = true;
      check();
    });
  });
}

try {
  const done = await Promise.all([
    run("json-1", 10, {}),
    run("json-2", 20, {}),
    run("compact-js", 30, { parser, query: { codec: "compact" } }),
  ]);
  console.log(`mixed-codec interop ok: ${done.join(", ")}`);
  clearTimeout(timer);
  process.exit(0);
} catch (err) {
  console.error(String(err?.stack ?? err));
  process.exit(1);
}
