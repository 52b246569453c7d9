// Where a runtime's resident memory goes over many calls (docs/security.md, "Memory over a long run"):
// runs an awaited host-service call (the shape of a data endpoint) through the runtime, N callers at
// once, and every K calls prints the process RSS, the host heap after a full GC, and each live isolate's
// heap (total/used, garbage included). No HTTP, no store: what grows here is the runtime's own.
// Usage: node --no-node-snapshot --expose-gc bench/memory.mjs [--calls 200000] [--every 20000]
//        [--callers 8] [--recycle 50000] [--sync]
import { parseArgs } from "node:util";
import { createRuntime } from "@restitch/runtime";

const { values: opts } = parseArgs({
  options: {
    calls: { type: "string", default: "200000" },
    every: { type: "string", default: "20000" },
    callers: { type: "string", default: "8" },
    recycle: { type: "string" },
    sync: { type: "boolean", default: false },
  },
});
if (typeof globalThis.gc !== "function") {
  console.error("bench/memory.mjs: run with --expose-gc (the host heap is measured after a full GC)");
  process.exit(2);
}
const total = Number(opts.calls);
const every = Number(opts.every);
const client = `(function (invoke) { return { findOne: (...a) => invoke("findOne", a) }; })`;
const runtime = createRuntime({
  serviceClients: { store: client },
  ...(opts.recycle ? { pool: { recycleAfterCalls: Number(opts.recycle) } } : {}),
});
const source = opts.sync
  ? `exports = function (q) { return { hello: "world", id: q._id }; };`
  : `exports = async function (q) { return await context.services.get("store").findOne(q); };`;
const app = runtime.app({ id: "memory", functions: { f: { source } } });
const doc = { name: "Ada Lovelace", tags: ["math", "engines"], visits: 42 };
const services = { store: { type: "store", invoke: async (_method, [q]) => ({ _id: q._id, ...doc }) } };

const mb = (bytes) => (bytes / 1048576).toFixed(1);
let done = 0;
function report(calls) {
  globalThis.gc();
  const m = process.memoryUsage();
  // The pool's isolates are private to the runtime; read here for the measurement only. They cannot be
  // collected from outside (isolated-vm's contexts have no gc(), even with --expose-gc): "used" includes
  // garbage waiting for the isolate's first full collection (docs/security.md, "Memory over a long run").
  const isolates = [...app.all.keys()].filter((s) => !s.disposed).map((s) => s.isolate.getHeapStatisticsSync());
  const iso = isolates.map((h) => `${mb(h.total_heap_size)}/${mb(h.used_heap_size)}`).join(" ");
  console.log(`${String(calls).padStart(8)} calls  rss ${mb(m.rss).padStart(6)} MB  host heap ${mb(m.heapTotal)}/${mb(m.heapUsed)} MB  isolates (total/used MB) ${iso || "-"}`);
}
report(0);
async function caller(n) {
  while (done < total) {
    const i = ++done;
    const r = await app.call({ functionName: "f", args: [{ _id: `doc-${n}-${i}` }], bridge: { services } });
    if (!r.ok) throw new Error(`call failed: ${JSON.stringify(r.error)}`);
    if (i % every === 0) report(i);
  }
}
await Promise.all(Array.from({ length: Number(opts.callers) }, (_, n) => caller(n)));
await runtime.close();
