// pnpm bench:runtime — per-call cost of the runtime next to bare isolated-vm, measured in one run.
// Each figure is the median over batches of the per-call time (µs). Run on a quiet machine; ratios
// hold better than absolute numbers.
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(new URL("../packages/runtime/package.json", import.meta.url));
const ivm = require("isolated-vm");
const { createRuntime } = await import("../packages/runtime/dist/index.js");

const BATCHES = Number(process.env.BATCHES ?? 9);
const CALLS = Number(process.env.CALLS ?? 2000);

if (process.argv[2] === "--echo-child") {
  process.on("message", (m) => process.send(m));
} else {
  await main();
}

async function measure(name, fn) {
  for (let i = 0; i < 300; i++) await fn(); // warm-up
  const perCall = [];
  for (let b = 0; b < BATCHES; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) await fn();
    perCall.push(Number(process.hrtime.bigint() - t) / 1e3 / CALLS);
  }
  perCall.sort((a, b) => a - b);
  return { name, medianUs: perCall[Math.floor(perCall.length / 2)], minUs: perCall[0], maxUs: perCall[perCall.length - 1] };
}

async function main() {
  const results = [];
  // Bare isolated-vm: one warm context, a trivial function, no fresh globals, no limits.
  const iso = new ivm.Isolate({ memoryLimit: 128 });
  const ctx = iso.createContextSync();
  const bare = ctx.evalSync("(function () { return 'hi'; })", { reference: true });
  results.push(await measure("bare isolated-vm applySync (warm context)", () => bare.applySync(undefined, [])));
  results.push(await measure("bare isolated-vm apply, async (warm context)", () => bare.apply(undefined, [])));
  results.push(await measure("bare isolated-vm: new context per call", () => {
    const c = iso.createContextSync();
    c.evalSync("1");
    c.release();
  }));

  const runtime = createRuntime({ serviceClients: { echo: "(function (invoke) { return { ping: (...a) => invoke('ping', a) }; })" } });
  const app = runtime.app({
    id: "bench",
    functions: {
      trivial: { source: "exports = function () { return 'hi'; };" },
      syncHost: { source: "exports = function () { return context.values.get('v'); };" },
      asyncHost: { source: "exports = async function () { return await context.services.get('echo').ping(1); };" },
      hmac: { source: "exports = function (body) { return utils.crypto.hmac(body, 'secret', 'sha256', 'hex'); };" },
    },
  });
  const bridge = { values: () => 1, services: { echo: { type: "echo", invoke: async () => "pong" } } };
  const body = JSON.stringify({ items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ["a", "b"] })) });
  results.push(await measure("restitch: trivial call through the pool (fresh globals)", () => app.call({ functionName: "trivial" })));
  results.push(await measure("restitch: one synchronous host call (values.get)", () => app.call({ functionName: "syncHost", bridge })));
  results.push(await measure("restitch: one asynchronous host call (service)", () => app.call({ functionName: "asyncHost", bridge })));
  results.push(await measure("restitch: HMAC-SHA256 of a ~1 KB body", () => app.call({ functionName: "hmac", args: [body] })));

  // What an isolate-host process behind IPC would add to every call: one message round trip.
  const child = fork(fileURLToPath(import.meta.url), ["--echo-child"], { serialization: "advanced" });
  await new Promise((r) => child.once("spawn", r));
  results.push(await measure("IPC round trip to a child process (advanced serialization)", () => new Promise((resolve) => {
    child.once("message", resolve);
    child.send({ fn: "trivial", args: [] });
  })));
  child.kill();
  await runtime.close();

  const base = results[0].medianUs;
  const width = Math.max(...results.map((r) => r.name.length));
  console.log(`per-call cost, median of ${BATCHES} batches × ${CALLS} calls (node ${process.version}, isolated-vm ${require("isolated-vm/package.json").version})\n`);
  console.log(`${"".padEnd(width)}  median µs   min µs   max µs   × bare applySync`);
  for (const r of results) {
    console.log(`${r.name.padEnd(width)}  ${r.medianUs.toFixed(1).padStart(9)}  ${r.minUs.toFixed(1).padStart(7)}  ${r.maxUs.toFixed(1).padStart(7)}   ${(r.medianUs / base).toFixed(1).padStart(6)}×`);
  }
  if (process.env.JSON) console.log(JSON.stringify(results));
}
