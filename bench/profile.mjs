// Where a Restitch server's CPU goes under load. Runs `restitch serve
// --workers 0` (the server in one process, so one profile holds everything) under node --cpu-prof, loads one
// endpoint with autocannon from another process, then prints self time by function and by area.
// Usage: node --no-node-snapshot bench/profile.mjs [endpoint=hello] [seconds=5]
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runLoad } from "./load.mjs";
import { APP_DIR, APP_ID, ENDPOINTS, seedStore } from "./workload.mjs";

const [name = "hello", seconds = "5"] = process.argv.slice(2);
const ep = ENDPOINTS.find((e) => e.name === name);
if (!ep) {
  console.error(`profile: unknown endpoint '${name}' (known: ${ENDPOINTS.map((e) => e.name).join(", ")})`);
  process.exit(2);
}

/** Areas by script URL (first match wins); self time of V8's pseudo-nodes keeps its own name. */
const AREAS = [
  [/isolated-vm/, "isolated-vm (JS side)"],
  [/packages\/runtime\//, "@restitch/runtime"],
  [/packages\/router\//, "@restitch/router"],
  [/packages\/mongodb\//, "@restitch/mongodb"],
  [/packages\/(cli|auth|config)\//, "other @restitch"],
  [/node_modules\/.*hono/, "hono + node-server"],
  [/node_modules\/.*bson/, "bson"],
  [/node_modules/, "other dependencies"],
  [/^node:/, "node core (http, net, streams…)"],
];

function summarise(profile) {
  const self = new Map();
  const dt = new Map();
  profile.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  const byArea = new Map();
  for (const node of profile.nodes) {
    const us = dt.get(node.id) ?? 0;
    if (!us) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? `${url.replace(/^.*\/(node_modules|packages)\//, "$1/")}:${lineNumber + 1}` : "";
    const key = `${functionName || "(anonymous)"} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    const area = url ? (AREAS.find(([re]) => re.test(url))?.[1] ?? "other") : functionName;
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    total += us;
  }
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => ({ what: k, ms: us / 1000, share: us / total }));
  return { totalMs: total / 1000, areas: top(byArea, 20), functions: top(self, 25) };
}

async function main() {
  const profDir = mkdtempSync(join(tmpdir(), "restitch-prof-"));
  const dataDir = mkdtempSync(join(tmpdir(), "restitch-prof-data-"));
  await seedStore(dataDir);
  const bin = new URL("../packages/cli/bin/restitch.js", import.meta.url).pathname;
  const server = spawn(process.execPath, ["--no-node-snapshot", "--cpu-prof", "--cpu-prof-dir", profDir, bin, "serve", APP_DIR, "--workers", "0", "--port", "0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const base = await new Promise((resolve, reject) => {
    let out = "";
    const waitForUrl = (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      server.stdout.off("data", waitForUrl); // then a log record per request: drained, not kept
      server.stdout.resume();
      resolve(`${m[1]}/app/${APP_ID}/endpoint`);
    };
    server.stdout.on("data", waitForUrl);
    server.on("exit", (c) => reject(new Error(`server exited ${c}`)));
  });
  const loadOut = await runLoad({ url: base + ep.path, method: ep.method, connections: 50, duration: Number(seconds), ...(ep.body ? { body: ep.body, headers: ep.headers } : {}) });
  const exited = new Promise((r) => server.once("exit", r));
  server.kill("SIGINT");
  await exited;
  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  const summary = summarise(JSON.parse(readFileSync(join(profDir, file), "utf8")));
  rmSync(profDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
  console.log(`${ep.method} ${ep.name}: ${loadOut.rps.toFixed(0)} req/s, p99 ${loadOut.p99Ms} ms, ${loadOut.requests} requests; profile ${summary.totalMs.toFixed(0)} ms sampled`);
  console.log(`self time per request: ${((summary.totalMs * 1000) / loadOut.requests).toFixed(0)} µs (idle included below)\n\nby area:`);
  for (const a of summary.areas) console.log(`  ${(a.share * 100).toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(6)} ms  ${a.what}`);
  console.log("\ntop functions (self time):");
  for (const f of summary.functions) console.log(`  ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(6)} ms  ${f.what}`);
}

await main();
