// What running aggregations in the embedded store's evaluator processes costs: one aggregate (and one
// $expr find) through the service, next to the same pipeline run by mingo on the calling thread (what
// the store did before), for a small and a larger collection; plus the first call (a thread starts).
// Usage: node --no-node-snapshot bench/evaluator.mjs [--calls 2000]. Needs a build first (pnpm build).
import { createRequire } from "node:module";
import { createEmbeddedDataService } from "../packages/mongodb/dist/index.js";

// mingo as the store loads it (a dependency of @restitch/mongodb, not of the bench).
const { Aggregator } = createRequire(new URL("../packages/mongodb/package.json", import.meta.url))("mingo");

const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const calls = arg("--calls", 2000);
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];

async function perCall(fn, n) {
  const batches = [];
  for (let b = 0; b < 5; b++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn(i);
    batches.push(((performance.now() - t0) * 1000) / n);
  }
  return median(batches);
}

const pipeline = [{ $match: { n: { $gte: 0 } } }, { $group: { _id: "$kind", total: { $sum: "$n" } } }, { $sort: { _id: 1 } }];
const rows = [];
for (const size of [10, 1000]) {
  const service = await createEmbeddedDataService({ name: "bench" });
  const coll = service.db("bench").collection("docs");
  const docs = Array.from({ length: size }, (_, i) => ({ n: i, kind: `k${i % 5}`, at: new Date(), tags: ["a", "b"] }));
  await coll.insertMany(docs);
  const t0 = performance.now();
  await coll.aggregate(pipeline);
  const first = performance.now() - t0;
  const n = size > 100 ? Math.max(100, calls / 10) : calls;
  const stored = await coll.find({});
  const inThread = await perCall(() => new Aggregator(pipeline, { scriptEnabled: false }).run(stored), n);
  const evaluator = await perCall(() => coll.aggregate(pipeline), n);
  const exprFind = await perCall(() => coll.find({ $expr: { $gte: ["$n", size - 2] } }), n);
  const plainFind = await perCall(() => coll.find({ n: { $gte: size - 2 } }), n);
  rows.push([size, first, inThread, evaluator, plainFind, exprFind]);
  await service.close();
}

console.log(`\nmedian of 5 batches, µs per call, one caller at a time\n`);
console.log("| docs | first aggregate (thread start), ms | mingo on the calling thread | aggregate via evaluator | find plain filter (calling thread) | find $expr (evaluator) |");
console.log("|---:|---:|---:|---:|---:|---:|");
for (const [size, first, a, b, c, d] of rows) console.log(`| ${size} | ${first.toFixed(1)} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${c.toFixed(1)} | ${d.toFixed(1)} |`);
