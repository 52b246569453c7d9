// Host-side throughput of the data service backends: findOne by _id and insertOne, called directly
// (no isolate, no HTTP). Usage: node bench/data-service.mjs [--seconds 3] ; set MONGODB_URI to include the driver.
// Needs a build first (pnpm build): it imports packages/mongodb/dist.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDriverDataService, createEmbeddedDataService } from "../packages/mongodb/dist/index.js";

const seconds = Number(process.argv[process.argv.indexOf("--seconds") + 1]) || 3;
const concurrency = 16;

async function measure(label, fn) {
  const deadline = performance.now() + seconds * 1000;
  let ops = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      await fn(ops++);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const rate = ops / ((performance.now() - t0) / 1000);
  console.log(`${label.padEnd(60)} ${Math.round(rate).toString().padStart(8)} ops/s`);
  return rate;
}

async function bench(label, service, database) {
  const c = service.db(database).collection("bench");
  const ids = [];
  for (let i = 0; i < 1000; i++) ids.push((await c.insertOne({ i, name: `user${i}`, tags: ["a", "b"], at: new Date() })).insertedId);
  await measure(`${label} findOne by _id`, (n) => c.findOne({ _id: ids[n % ids.length] }));
  await measure(`${label} insertOne`, (n) => c.insertOne({ n, name: `n${n}`, at: new Date() }));
}

const dir = mkdtempSync(join(tmpdir(), "restitch-bench-"));
try {
  const memory = await createEmbeddedDataService({ name: "bench" });
  await bench("embedded (in memory)", memory, "bench");
  await memory.close();
  const durable = await createEmbeddedDataService({ name: "bench", dataDir: dir });
  await bench("embedded (durable, WAL, synchronous=FULL)", durable, "bench");
  await durable.close();
  const normal = await createEmbeddedDataService({ name: "bench-normal", dataDir: dir, synchronous: "normal" });
  await bench("embedded (durable, WAL, synchronous=NORMAL)", normal, "bench");
  await normal.close();
  if (process.env.MONGODB_URI) {
    const driver = await createDriverDataService({ name: "bench", uri: process.env.MONGODB_URI });
    const database = `restitch_bench_${process.pid}`;
    try {
      await bench(`driver (${process.env.MONGODB_URI})`, driver, database);
    } finally {
      const { MongoClient } = await import("../packages/mongodb/node_modules/mongodb/lib/index.js");
      const admin = new MongoClient(process.env.MONGODB_URI);
      await admin.db(database).dropDatabase().finally(() => admin.close());
      await driver.close();
    }
  } else console.log("driver: skipped (set MONGODB_URI)");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
