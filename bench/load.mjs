// The load generator process: one autocannon run, its summary printed as one JSON line. Run by run.mjs
// in a process of its own so that the load never shares an event loop with a server.
// Usage: node load.mjs '<json: {url, method, body?, headers?, connections, duration}>'
import autocannon from "autocannon";

const o = JSON.parse(process.argv[2]);
const r = await autocannon({ ...o, timeout: 10 });
const ok = r["2xx"];
process.stdout.write(
  JSON.stringify({
    requests: r.requests.total,
    rps: ok / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    failures: r.non2xx + r.errors + r.timeouts,
  }) + "\n",
);
