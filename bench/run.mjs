// pnpm bench — the throughput suite: the four workload endpoints on every peer, loaded by autocannon from a
// separate process on 127.0.0.1, warm-up first, several bounded runs, medians. Writes results/latest.{json,md,svg}.
// Options: --quick (1 s × 1 run, smoke), --duration s (5), --runs n (3), --warmup s (2), --connections n (50),
//          --peers a,b (names from peers/index.mjs), --no-footprint (skip cold start / memory measurements).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { benchTable, median, watchServer } from "restitch";
import { chartSvg } from "./chart.mjs";
import { measureFootprint } from "./footprint.mjs";
import { runLoad } from "./load.mjs";
import { CORES, PEERS } from "./peers/index.mjs";
import { ENDPOINTS, seedStore } from "./workload.mjs";

const here = new URL(".", import.meta.url).pathname;
const { values: opts } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    duration: { type: "string" },
    runs: { type: "string" },
    warmup: { type: "string" },
    connections: { type: "string", default: "50" },
    peers: { type: "string" },
    "no-footprint": { type: "boolean", default: false },
  },
});
function positive(name, value) {
  const n = Number(value);
  if (!(n > 0)) {
    console.error(`bench: --${name} must be a positive number (got '${value}')`);
    process.exit(2);
  }
  return n;
}
const duration = positive("duration", opts.duration ?? (opts.quick ? 1 : 5));
const runs = positive("runs", opts.runs ?? (opts.quick ? 1 : 3));
const warmup = positive("warmup", opts.warmup ?? (opts.quick ? 0.5 : 2));
const connections = positive("connections", opts.connections);
const wanted = opts.peers?.split(",");
for (const w of wanted ?? []) {
  if (!PEERS.some((p) => p.name === w)) {
    console.error(`bench: --peers: unknown peer '${w}' (known: ${PEERS.map((p) => p.name).join(", ")})`);
    process.exit(2);
  }
}
const peers = PEERS.filter((p) => !wanted || wanted.includes(p.name));

/** One autocannon run against one endpoint, in its own process. */
function autocannon(url, ep, seconds) {
  return runLoad({ url, method: ep.method, connections, duration: seconds, ...(ep.body ? { body: ep.body, headers: ep.headers } : {}) });
}

async function measurePeer(peer, dataDir) {
  const server = await peer.start(dataDir);
  const rows = [];
  try {
    for (const ep of ENDPOINTS) {
      const url = server.base + ep.path;
      await autocannon(url, ep, warmup);
      const samples = [];
      for (let i = 0; i < runs; i++) {
        const { result, cpuMs, peakRssMb } = await watchServer(server.pid, () => autocannon(url, ep, duration));
        samples.push({ ...result, cpuUsPerRequest: (cpuMs * 1000) / Math.max(1, result.requests), peakRssMb });
      }
      const row = {
        endpoint: ep.name,
        peer: peer.name,
        rps: median(samples.map((s) => s.rps)),
        p50Ms: median(samples.map((s) => s.p50Ms)),
        p99Ms: median(samples.map((s) => s.p99Ms)),
        cpuUsPerRequest: median(samples.map((s) => s.cpuUsPerRequest)),
        peakRssMb: Math.max(...samples.map((s) => s.peakRssMb)),
        failures: samples.reduce((a, s) => a + s.failures, 0),
        runs: samples,
      };
      rows.push(row);
      console.error(`  ${peer.name.padEnd(12)} ${ep.name.padEnd(6)} ${row.rps.toFixed(0).padStart(7)} req/s  p99 ${row.p99Ms.toFixed(2)} ms${row.failures ? `  ${row.failures} FAILED` : ""}`);
    }
  } finally {
    await server.stop();
  }
  return rows;
}

/** Restitch rps over another peer's, per endpoint (same run). */
function ratios(rows, subject, other) {
  const out = {};
  for (const ep of ENDPOINTS) {
    const a = rows.find((r) => r.peer === subject && r.endpoint === ep.name);
    const b = rows.find((r) => r.peer === other && r.endpoint === ep.name);
    if (a && b && b.rps > 0 && !a.failures && !b.failures) out[ep.name] = a.rps / b.rps;
  }
  return out;
}

function targets(rows, ratio, footprint) {
  const get = (peer, ep) => rows.find((r) => r.peer === peer && r.endpoint === ep);
  const check = (name, value, ok) => ({ name, value, met: value === undefined ? null : ok(value) });
  return [
    check("hello: restitch/hono rps >= 0.6", ratio.hono.hello, (v) => v >= 0.6),
    check("hello: restitch/workerd rps >= 1.2", ratio.workerd.hello, (v) => v >= 1.2),
    check(`hello: restitch p99 <= 5 ms at ${connections} connections`, get("restitch", "hello")?.p99Ms, (v) => v <= 5),
    check("hmac: restitch/hono rps >= 0.6", ratio.hono.hmac, (v) => v >= 0.6),
    check("hmac: restitch/workerd rps >= 1.2", ratio.workerd.hmac, (v) => v >= 1.2),
    check("data: restitch/hono rps >= 0.5", ratio.hono.data, (v) => v >= 0.5),
    check("first request of a new app <= 50 ms after start", footprint?.coldStart.firstRequestMs, (v) => v <= 50),
    check("idle app <= 10 MB RSS (marginal, per app in one host)", footprint?.idleAppMb, (v) => v <= 10),
  ];
}

function markdown(result) {
  const lines = [
    `Machine: ${result.machine.cpus} cores (${result.machine.cpuModel}), Node ${result.machine.node}, load average before the run ${result.machine.loadBefore}.`,
    `Settings: ${result.settings.connections} connections, ${result.settings.runs} runs × ${result.settings.duration} s after a ${result.settings.warmup} s warm-up; medians.`,
    "",
    "| endpoint | peer | req/s | p50 ms | p99 ms | server CPU µs/req | peak RSS MB | failed |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ...result.rows.map((r) => `| ${r.endpoint} | ${r.peer} | ${r.rps.toFixed(0)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.cpuUsPerRequest.toFixed(0)} | ${r.peakRssMb.toFixed(0)} | ${r.failures} |`),
    "",
    "| ratio (req/s, same run) | " + ENDPOINTS.map((e) => e.name).join(" | ") + " |",
    "|---|" + ENDPOINTS.map(() => "---:").join("|") + "|",
    ...Object.entries(result.ratios).map(([k, v]) => `| ${k} | ` + ENDPOINTS.map((e) => (v[e.name] === undefined ? "n/a" : v[e.name].toFixed(2))).join(" | ") + " |"),
    "",
    "| target | measured | met |",
    "|---|---:|---|",
    ...result.targets.map((t) => `| ${t.name} | ${t.value === undefined ? "n/a" : t.value.toFixed(2)} | ${t.met === null ? "n/a" : t.met ? "yes" : "**no**"} |`),
  ];
  if (result.footprint) lines.push("", "Footprint:", "```json", JSON.stringify(result.footprint, null, 2), "```");
  return lines.join("\n") + "\n";
}

const started = Date.now();
const loadBefore = loadavg().map((l) => l.toFixed(2)).join(" ");
console.error(`bench: ${peers.length} peers × ${ENDPOINTS.length} endpoints, ${runs} × ${duration} s runs after ${warmup} s warm-up, ${connections} connections; load average ${loadBefore}`);
console.error(`bench: ${CORES} cores, and autocannon competes with the server for them: compare ratios from one run, not absolute numbers across machines.`);
const dataDir = mkdtempSync(join(tmpdir(), "restitch-bench-data-"));
const rows = [];
try {
  await seedStore(dataDir);
  for (const peer of peers) rows.push(...(await measurePeer(peer, dataDir)));
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
const footprint = opts["no-footprint"] ? undefined : await measureFootprint();
const ratio = { hono: ratios(rows, "restitch", "hono"), workerd: ratios(rows, "restitch", "workerd") };
const result = {
  at: new Date().toISOString(),
  command: `pnpm bench ${process.argv.slice(2).join(" ")}`.trim(),
  machine: {
    cpus: CORES,
    cpuModel: execFileSync("sh", ["-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim(),
    node: process.version,
    loadBefore,
    loadAfter: loadavg().map((l) => l.toFixed(2)).join(" "),
  },
  settings: { duration, runs, warmup, connections },
  peers: peers.map(({ name, note }) => ({ name, note })),
  rows,
  ratios: {
    "restitch / hono": ratio.hono,
    "restitch / workerd": ratio.workerd,
    [`restitch x${CORES} / hono`]: ratios(rows, `restitch x${CORES}`, "hono"),
    [`restitch x${CORES} / restitch`]: ratios(rows, `restitch x${CORES}`, "restitch"),
    "node:vm / hono": ratios(rows, "node:vm", "hono"),
  },
  footprint,
};
result.targets = targets(rows, ratio, footprint);

const outDir = join(here, "results");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "latest.json"), JSON.stringify(result, null, 2) + "\n");
writeFileSync(join(outDir, "latest.md"), markdown(result));
writeFileSync(join(outDir, "latest.svg"), chartSvg(rows, `${result.command} — ${result.at} — ${CORES} cores, ${connections} connections`));

console.log(benchTable(rows));
console.log("\nratios (req/s, same run):");
for (const [name, v] of Object.entries(result.ratios)) console.log(`  ${name.padEnd(24)} ${ENDPOINTS.map((e) => `${e.name} ${v[e.name]?.toFixed(2) ?? "n/a"}`).join("   ")}`);
console.log("\ntargets:");
for (const t of result.targets) console.log(`  ${t.met === null ? "n/a " : t.met ? "met " : "MISS"}  ${t.name}: ${t.value?.toFixed(2) ?? "n/a"}`);
console.log(`\nwrote bench/results/latest.{json,md,svg} in ${((Date.now() - started) / 1000).toFixed(0)} s; load average now ${result.machine.loadAfter}`);
