// Cold start and memory (docs/benchmarks.md §Footprint):
// - a new server: spawn `restitch serve` -> listening, then the first and second request (median of 3);
// - an idle server's RSS (supervisor + worker) after one request;
// - in one process through the runtime API (a child with --expose-gc): warm-call cost, a new app's first
//   call, marginal RSS per idle app (20 apps with one call each) and per concurrent call (32 calls parked
//   on a host service, each holding an isolate).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, startServe, stopServe, treeUsage } from "restitch";
import { APP_DIR, APP_ID } from "./workload.mjs";

const APPS = 20;
const CONCURRENT = 32;
const HELLO = { source: "exports = function () { return { hello: 'world' }; };" };
const PARKED = {
  source: "exports = async function () { const held = new Array(1000).fill('x'); await context.services.get('park').wait(); return held.length; };",
};
const PARK_CLIENT = "(function (invoke) { return { wait: () => invoke('wait', []) }; })";

async function serverStart() {
  const dataDir = mkdtempSync(join(tmpdir(), "restitch-bench-cold-"));
  const t0 = performance.now();
  const { child, url } = await startServe([APP_DIR, "--data-dir", dataDir]);
  const listening = performance.now() - t0;
  try {
    const hello = `${url}/app/${APP_ID}/endpoint/hello`;
    let t = performance.now();
    if (!(await fetch(hello)).ok) throw new Error("first request failed");
    const first = performance.now() - t;
    t = performance.now();
    await (await fetch(hello)).text();
    const second = performance.now() - t;
    await new Promise((r) => setTimeout(r, 500));
    return { listening, first, second, idleRssMb: treeUsage(child.pid).rssMb };
  } finally {
    await stopServe(child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Runs in the child: everything measured through the runtime API in one process. */
async function runtimeFootprint() {
  const { createRuntime } = await import("@restitch/runtime");
  const rssMb = () => {
    globalThis.gc();
    return process.memoryUsage().rss / 2 ** 20;
  };
  const runtime = createRuntime({ serviceClients: { park: PARK_CLIENT }, pool: { maxIsolates: CONCURRENT, maxQueue: CONCURRENT } });
  // Warm-call cost: sequential calls on one warm app.
  const warm = runtime.app({ id: "warm", functions: { hello: HELLO } });
  for (let i = 0; i < 500; i++) await warm.call({ functionName: "hello" });
  const perCall = [];
  for (let b = 0; b < 5; b++) {
    const t = performance.now();
    for (let i = 0; i < 2000; i++) await warm.call({ functionName: "hello" });
    perCall.push(((performance.now() - t) * 1000) / 2000);
  }
  // New apps: the first call of each (isolate + context + compile), and what an idle one keeps.
  const before = rssMb();
  const firstCall = [];
  for (let i = 0; i < APPS; i++) {
    const t = performance.now();
    const r = await runtime.app({ id: `idle-${i}`, functions: { hello: HELLO } }).call({ functionName: "hello" });
    if (!r.ok) throw new Error(r.error.message);
    firstCall.push(performance.now() - t);
  }
  const idleAppMb = (rssMb() - before) / APPS;
  // Concurrent calls: each parked call holds an isolate until released.
  const parkedApp = runtime.app({ id: "parked", functions: { parked: PARKED } });
  await parkedApp.call({ functionName: "parked", bridge: { services: { park: { type: "park", invoke: async () => null } } } });
  const idle = rssMb();
  let release;
  const gate = new Promise((r) => (release = r));
  let parked = 0;
  const bridge = { services: { park: { type: "park", invoke: () => (parked++, gate) } } };
  const calls = Array.from({ length: CONCURRENT }, () => parkedApp.call({ functionName: "parked", bridge }));
  while (parked < CONCURRENT) await new Promise((r) => setTimeout(r, 10));
  const perConcurrentCallMb = (rssMb() - idle) / CONCURRENT;
  release();
  await Promise.all(calls);
  await runtime.close();
  return { warmCallUs: median(perCall), newAppFirstCallMs: median(firstCall), idleAppMb, perConcurrentCallMb };
}

export async function measureFootprint() {
  console.error("bench: footprint (cold start, memory)…");
  const starts = [];
  for (let i = 0; i < 3; i++) starts.push(await serverStart());
  const inProcess = await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--no-node-snapshot", "--expose-gc", import.meta.filename, "--child"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`footprint child exited ${code}`))));
  });
  return {
    coldStart: {
      spawnToListeningMs: median(starts.map((s) => s.listening)),
      firstRequestMs: median(starts.map((s) => s.first)),
      secondRequestMs: median(starts.map((s) => s.second)),
      newAppFirstCallInProcessMs: inProcess.newAppFirstCallMs,
    },
    idleServerRssMb: median(starts.map((s) => s.idleRssMb)),
    idleAppMb: inProcess.idleAppMb,
    perConcurrentCallMb: inProcess.perConcurrentCallMb,
    warmCallUs: inProcess.warmCallUs,
  };
}

if (process.argv[2] === "--child") process.stdout.write(JSON.stringify(await runtimeFootprint()) + "\n");
