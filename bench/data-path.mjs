// findOne by _id and insertOne through the whole path (HTTP -> isolate -> host -> backend -> isolate ->
// HTTP) next to the same operation called directly from the host, per backend, in one run.
// Usage: node --no-node-snapshot bench/data-path.mjs [--seconds 5] [--connections 16]
// Backends: embedded in memory, embedded durable (temp dir), and the driver when MONGODB_URI is set.
// Needs a build first (pnpm build).
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDriverDataService, createEmbeddedDataService } from "../packages/mongodb/dist/index.js";
import { startServer } from "../packages/cli/dist/index.js";
import { runLoad } from "./load.mjs";

const arg = (name, fallback) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const seconds = arg("--seconds", 5);
const connections = arg("--connections", 16);
const APP_ID = "datapath-abcde";
const DB = `restitch_datapath_${process.pid}`;

function writeApp(dir) {
  const put = (file, text) => {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), text);
  };
  put("realm_config.json", JSON.stringify({ app_id: APP_ID, name: "datapath" }));
  put("data_sources/mongodb-atlas/config.json", JSON.stringify({ name: "mongodb-atlas", type: "mongodb-atlas", config: {} }));
  const coll = `context.services.get("mongodb-atlas").db(${JSON.stringify(DB)}).collection("docs")`;
  put("functions/findOne.js", `exports = async (request) => await ${coll}.findOne({ _id: new BSON.ObjectId(request.query.id) });`);
  put("functions/insertOne.js", `exports = async (request) => await ${coll}.insertOne({ n: 1, name: "x", at: new Date() });`);
  put("functions/config.json", JSON.stringify([{ name: "findOne", run_as_system: true }, { name: "insertOne", run_as_system: true }]));
  const ep = (route, method, fn) => ({ route, http_method: method, function_name: fn, validation_method: "NO_VALIDATION", respond_result: true, run_as_system: true, return_type: "JSON" });
  put("http_endpoints/config.json", JSON.stringify([ep("/findOne", "GET", "findOne"), ep("/insertOne", "POST", "insertOne")]));
}

async function direct(service, label, fn) {
  const deadline = performance.now() + seconds * 1000;
  let ops = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < deadline) {
      await fn(ops++);
    }
  }));
  return ops / ((performance.now() - t0) / 1000);
}

const rows = [];
async function backend(label, options, openDirect) {
  const appDir = mkdtempSync(join(tmpdir(), "restitch-datapath-app-"));
  writeApp(appDir);
  const server = await startServer({ appDir, port: 0, ...options });
  const store = await openDirect();
  try {
    const docs = store.db(DB).collection("docs");
    const { insertedId } = await docs.insertOne({ n: 0, name: "seed", at: new Date() });
    const base = `${server.url}/app/${APP_ID}/endpoint`;
    // Seed through the server too (an in-memory store is private to its process).
    const seeded = await (await fetch(`${base}/insertOne`, { method: "POST" })).json();
    const httpFind = await runLoad({ url: `${base}/findOne?id=${seeded.insertedId}`, connections, duration: seconds });
    const hostFind = await direct(store, label, () => docs.findOne({ _id: insertedId }));
    const httpInsert = await runLoad({ url: `${base}/insertOne`, method: "POST", connections, duration: seconds });
    const hostInsert = await direct(store, label, (n) => docs.insertOne({ n, name: "x", at: new Date() }));
    rows.push([label, "findOne by _id", httpFind.rps, hostFind, httpFind.failures], [label, "insertOne", httpInsert.rps, hostInsert, httpInsert.failures]);
  } finally {
    await server.close();
    await store.close();
    rmSync(appDir, { recursive: true, force: true });
  }
}

const dataDir = mkdtempSync(join(tmpdir(), "restitch-datapath-data-"));
try {
  // In memory: the server's own store is private to it, so the direct calls use a store of their own.
  await backend("embedded, in memory", {}, () => createEmbeddedDataService({ name: "mongodb-atlas" }));
  await backend("embedded, durable", { dataDir }, () => createEmbeddedDataService({ name: "mongodb-atlas", dataDir }));
  if (process.env.MONGODB_URI) {
    await backend("driver (MONGODB_URI)", { mongodbUri: process.env.MONGODB_URI }, () => createDriverDataService({ name: "mongodb-atlas", uri: process.env.MONGODB_URI }));
    const { MongoClient } = await import("../packages/mongodb/node_modules/mongodb/lib/index.js");
    const admin = new MongoClient(process.env.MONGODB_URI);
    await admin.db(DB).dropDatabase().finally(() => admin.close());
  } else console.log("driver: skipped (set MONGODB_URI)");
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

console.log(`\n${connections} concurrent callers, ${seconds} s each, one server process (in-process, --workers 0 equivalent)\n`);
console.log("| backend | operation | full path ops/s | direct from host ops/s | full / direct | failed |");
console.log("|---|---|---:|---:|---:|---:|");
for (const [b, op, http, host, failed] of rows) {
  console.log(`| ${b} | ${op} | ${Math.round(http)} | ${Math.round(host)} | ${(http / host).toFixed(2)} | ${failed} |`);
}
