/**
 * `restitch bench <appDir>`: start the app with `restitch serve` in child processes, load its endpoints from
 * this process (keep-alive HTTP/1.1, fixed connections, warm-up first) and print requests/s, p50/p99 latency,
 * server CPU per request and peak server RSS. The measuring helpers are exported for bench/run.mjs, so the
 * suite and the command print the same table.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { loadApp, type EndpointDef } from "@restitch/config";
import { intOption, parse, stringOption, UsageError } from "./args.js";

export interface BenchRow {
  endpoint: string;
  peer: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU (user+system, whole process tree) per request, µs; undefined when not measured. */
  cpuUsPerRequest?: number;
  /** Peak resident size of the server's process tree, MB. */
  peakRssMb?: number;
  /** Answers outside 2xx plus transport errors; a row with any is not a valid throughput figure. */
  failures: number;
}

const fmt = (n: number | undefined, digits: number) => (n === undefined || !Number.isFinite(n) ? "n/a" : n.toFixed(digits));

/** The result table shared by `restitch bench` and `pnpm bench`. */
export function benchTable(rows: BenchRow[]): string {
  const table = [["ENDPOINT", "PEER", "REQ/S", "P50 MS", "P99 MS", "CPU µS/REQ", "PEAK RSS MB", "FAILED"]];
  for (const r of rows) {
    table.push([r.endpoint, r.peer, fmt(r.rps, 0), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.cpuUsPerRequest, 0), fmt(r.peakRssMb, 0), String(r.failures)]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  return table.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

// ---- the server's process tree, from /proc (Linux) ----------------------------------------------------

const TICK_MS = 10; // USER_HZ is 100 on every Linux that Node supports

function readStat(pid: number): { ppid: number; cpuMs: number; nice: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces and parentheses): state ppid … utime(14) stime(15) … nice(19).
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), cpuMs: (Number(f[11]) + Number(f[12])) * TICK_MS, nice: Number(f[16]) };
  } catch {
    return undefined; // the process ended between listing and reading
  }
}

/** `root` and all its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (st) children.set(st.ppid, [...(children.get(st.ppid) ?? []), pid]);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU time (ms) and RSS (MB) of a process tree; CPU of processes that already exited is not counted.
 * quarantineRssMb: the share of processes at nice 19 (`restitch serve`'s quarantine worker, which runs
 * the apps that hit limits: its RSS swings with their memory bombs, not with the normal traffic).
 */
export function treeUsage(root: number): { cpuMs: number; rssMb: number; quarantineRssMb: number } {
  let cpuMs = 0;
  let rss = 0;
  let quarantineRssMb = 0;
  for (const pid of processTree(root)) {
    const stat = readStat(pid);
    const mb = rssMb(pid);
    cpuMs += stat?.cpuMs ?? 0;
    rss += mb;
    if ((stat?.nice ?? 0) >= 19) quarantineRssMb += mb;
  }
  return { cpuMs, rssMb: rss, quarantineRssMb };
}

/** Samples a server tree while `work` runs: CPU used across it and the peak RSS seen (every 200 ms). */
export async function watchServer<T>(root: number, work: () => Promise<T>): Promise<{ result: T; cpuMs: number; peakRssMb: number }> {
  const before = treeUsage(root);
  let peak = before.rssMb;
  const timer = setInterval(() => (peak = Math.max(peak, treeUsage(root).rssMb)), 200);
  try {
    const result = await work();
    const after = treeUsage(root);
    return { result, cpuMs: after.cpuMs - before.cpuMs, peakRssMb: Math.max(peak, after.rssMb) };
  } finally {
    clearInterval(timer);
  }
}

// ---- a keep-alive load generator ------------------------------------------------------------------------

export interface LoadOptions {
  url: string;
  method: string;
  body?: string;
  headers?: Record<string, string>;
  connections: number;
  durationS: number;
  /** Called about every 200 ms with the elapsed fraction and the requests done so far. */
  onProgress?: (fraction: number, requests: number) => void;
}

export interface LoadResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** `connections` keep-alive connections, each sending its next request when the previous answer is read. */
export async function load(options: LoadOptions): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const latencies: number[] = [];
  let failures = 0;
  const start = performance.now();
  const end = start + options.durationS * 1000;
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const headers = { ...options.headers, ...(body ? { "content-length": String(body.length) } : {}) };
  const one = () =>
    new Promise<void>((resolve) => {
      const t = performance.now();
      const req = httpRequest(options.url, { method: options.method, agent, headers }, (res) => {
        res.on("data", () => {});
        res.on("end", () => {
          if (res.statusCode! >= 200 && res.statusCode! < 300) latencies.push(performance.now() - t);
          else failures++;
          resolve();
        });
      });
      req.on("error", () => {
        failures++;
        resolve();
      });
      req.end(body);
    });
  const progress = options.onProgress
    ? setInterval(() => options.onProgress!(Math.min(1, (performance.now() - start) / (end - start)), latencies.length + failures), 200)
    : undefined;
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        while (performance.now() < end) await one();
      }),
    );
  } finally {
    if (progress) clearInterval(progress);
    agent.destroy();
  }
  const seconds = (performance.now() - start) / 1000;
  const sorted = Float64Array.from(latencies).sort();
  const requests = latencies.length + failures;
  return { requests, rps: latencies.length / seconds, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), failures };
}

function progressBar(label: string): (fraction: number, requests: number) => void {
  return (fraction, requests) => {
    if (!process.stderr.isTTY) return;
    const width = 30;
    const done = Math.round(fraction * width);
    process.stderr.write(`\r${label} [${"#".repeat(done)}${".".repeat(width - done)}] ${Math.round(fraction * 100)}% ${requests} requests`);
  };
}

// ---- the command ----------------------------------------------------------------------------------------

/** Starts `restitch serve` on a free loopback port; resolves with the child and its URL once it listens. */
export async function startServe(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const bin = new URL("../bin/restitch.js", import.meta.url).pathname;
  const child = spawn(process.execPath, ["--no-node-snapshot", bin, "serve", ...args, "--port", "0", "--host", "127.0.0.1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    let out = "";
    const waitForUrl = (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      // From here on stdout carries a log record per request: drain it, keep none of it.
      child.stdout!.off("data", waitForUrl);
      child.stdout!.resume();
      out = "";
      resolve({ child, url: m[1]! });
    };
    child.stdout!.on("data", waitForUrl);
    child.on("exit", (code) => reject(new Error(`restitch serve exited (${code}) before listening:\n${stderr.trim()}`)));
  });
}

export async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function readBody(value: string | undefined): string {
  if (value === undefined) return "{}";
  if (!value.startsWith("@")) return value;
  try {
    return readFileSync(value.slice(1), "utf8");
  } catch (e) {
    throw new UsageError(`--body ${value}: cannot read the file (${(e as Error).message})`);
  }
}

/** Endpoints the command can call without credentials or signatures; the others are listed as skipped. */
function selectEndpoints(endpoints: EndpointDef[], routes: string[]): EndpointDef[] {
  const picked = routes.length ? endpoints.filter((e) => routes.includes(e.route)) : endpoints;
  for (const r of routes) if (!endpoints.some((e) => e.route === r)) throw new UsageError(`--endpoint ${r}: the app has no endpoint with that route`);
  return picked.filter((e) => {
    const why = e.disabled ? "disabled" : e.validationMethod !== "NO_VALIDATION" ? `needs ${e.validationMethod}` : undefined;
    if (why) console.error(`restitch bench: skipping ${e.httpMethod} ${e.route} (${why})`);
    return !why;
  });
}

export async function bench(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    endpoint: { type: "string", multiple: true },
    connections: { type: "string" },
    duration: { type: "string" },
    workers: { type: "string" },
    body: { type: "string" },
    query: { type: "string" },
    secrets: { type: "string" },
    "data-dir": { type: "string" },
    "mongodb-uri": { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError("bench needs exactly one <appDir>");
  const appDir = positionals[0]!;
  const connections = intOption(values.connections, "connections", 1, 1000, 50);
  const durationS = intOption(values.duration, "duration", 1, 600, 5);
  const workers = intOption(values.workers, "workers", 1, 256, 1);
  const body = readBody(stringOption(values.body));
  const query = stringOption(values.query)?.replace(/^\?/, "");
  const secrets = stringOption(values.secrets);
  const app = await loadApp(appDir, secrets ? { secretsFile: secrets } : {});
  const routes = (values.endpoint as unknown as string[] | undefined) ?? [];
  const endpoints = selectEndpoints(app.endpoints, routes);
  if (endpoints.length === 0) throw new UsageError("no endpoint to benchmark");

  const serveArgs = [appDir, "--workers", String(workers)];
  for (const name of ["secrets", "data-dir", "mongodb-uri"] as const) {
    const v = stringOption(values[name]);
    if (v) serveArgs.push(`--${name}`, v);
  }
  const { child, url } = await startServe(serveArgs);
  const rows: BenchRow[] = [];
  try {
    console.error(`restitch bench: ${url}, ${connections} connections, ${durationS} s per endpoint after a 1 s warm-up, ${workers} worker(s)`);
    for (const ep of endpoints) {
      const method = ep.httpMethod === "*" ? "GET" : ep.httpMethod;
      const withBody = !["GET", "DELETE"].includes(method);
      const target: LoadOptions = {
        url: `${url}/app/${app.appId}/endpoint${ep.route}${query ? `?${query}` : ""}`,
        method,
        connections,
        durationS,
        ...(withBody ? { body, headers: { "content-type": "application/json" } } : {}),
      };
      await load({ ...target, durationS: 1 });
      const label = `${method} ${ep.route}`;
      const { result, cpuMs, peakRssMb } = await watchServer(child.pid!, () => load({ ...target, onProgress: progressBar(label) }));
      if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
      rows.push({ endpoint: label, peer: `restitch x${workers}`, rps: result.rps, p50Ms: result.p50Ms, p99Ms: result.p99Ms, cpuUsPerRequest: (cpuMs * 1000) / result.requests, peakRssMb, failures: result.failures });
    }
  } finally {
    await stopServe(child);
  }
  console.log(benchTable(rows));
  console.log(`\nload ran in this process (one core of its own on a busy machine skews it); failed = non-2xx or transport errors.`);
  return rows.some((r) => r.failures > 0) ? 1 : 0;
}
