// Checks web/codecs.js against postcard bytes written by Rust: reads cases from stdin
// (`[{event, side, value, hex}]`, side = "payload" or "ack"), decodes each hex with the
// event's declared type and compares with `value`, then encodes `value` and compares bytes.
// Cases with side "apply" check web/delta.js instead: `applyDelta(value.base, value.delta)`
// must equal `value.current` (snapshots and the delta as Rust's JSON).
// Run by tests/compact_schemas.rs.

import { gameEvents } from '../../web/codecs.js';
import { applyDelta } from '../../web/delta.js';

const modulePath = process.argv[2];
const mod = await import(modulePath);
const events = gameEvents(mod.types);

function codecOf(event, side) {
  const spec = events[event];
  if (spec === undefined) throw new Error(`no schema for event ${event}`);
  if (spec && typeof spec.encode === 'function') {
    if (side !== 'payload') throw new Error(`${event} declares no ack type`);
    return spec;
  }
  return side === 'ack' ? spec.ack : spec.payload;
}

function same(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.fround(a) === Math.fround(b);
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => same(a[k], b[k]));
}

const hex = (bytes) => Buffer.from(bytes).toString('hex');
let input = '';
for await (const chunk of process.stdin) input += chunk;
const cases = JSON.parse(input);
let failures = 0;
for (const c of cases) {
  const label = `${c.event} (${c.side})`;
  try {
    if (c.side === 'apply') {
      const got = applyDelta(c.value.base, c.value.delta);
      if (!same(got, c.value.current)) {
        failures++;
        console.error(`${label}: applied ${JSON.stringify(got)}, Rust made ${JSON.stringify(c.value.current)}`);
      } else {
        console.log(`ok ${label}: ${c.value.current.players.length} players`);
      }
      continue;
    }
    const codec = codecOf(c.event, c.side);
    const decoded = mod.fromPayload(codec, Buffer.from(c.hex, 'hex'));
    if (!same(decoded, c.value)) {
      failures++;
      console.error(`${label}: decoded ${JSON.stringify(decoded)}, Rust meant ${JSON.stringify(c.value)}`);
      continue;
    }
    const encoded = hex(mod.toPayload(codec, c.value));
    if (encoded !== c.hex) {
      failures++;
      console.error(`${label}: JS writes ${encoded}, Rust writes ${c.hex}`);
      continue;
    }
    console.log(`ok ${label}: ${c.hex.length / 2} bytes`);
  } catch (e) {
    failures++;
    console.error(`${label}: ${e.message}`);
  }
}
process.exit(failures ? 1 : 0);
