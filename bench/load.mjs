// The load generator: one autocannon run in a process of its own, so that the load never shares an event
// loop with a server or with the runner. runLoad(config) spawns this file; the child prints one JSON line.
import { spawn } from "node:child_process";
import autocannon from "autocannon";

/** config: {url, method, body?, headers?, connections, duration}; resolves {requests, rps, p50Ms, p99Ms, failures}. */
export function runLoad(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [import.meta.filename, JSON.stringify(config)], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited ${code}`))));
  });
}

if (process.argv[1] === import.meta.filename && process.argv[2]) {
  const r = await autocannon({ ...JSON.parse(process.argv[2]), timeout: 10 });
  const ok = r["2xx"];
  process.stdout.write(
    JSON.stringify({ requests: r.requests.total, rps: ok / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99, failures: r.non2xx + r.errors + r.timeouts }) + "\n",
  );
}
