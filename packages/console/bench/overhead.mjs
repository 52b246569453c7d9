// The console's cost with supervised workers: CPU per request of each server process (supervisor and
// workers) with the console off and on, for GET /hello of examples/hello-app, alternating twice.
// Run: node --no-node-snapshot packages/console/bench/overhead.mjs   (after pnpm build)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { load, processTree, startServe, stopServe } from "../../cli/dist/index.js";

const APP = fileURLToPath(new URL("../../../examples/hello-app", import.meta.url));
const WORKERS = process.env.WORKERS ?? "2";
const ON = ["--console", "--console-token", "bench-console-token-0123456789"];

/** User + system CPU of one process, ms (USER_HZ = 100). */
function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

const rows = [];
for (const round of [1, 2]) {
  for (const [label, extra] of [["off", []], ["on", ON]]) {
    const { child, url } = await startServe([APP, "--workers", WORKERS, ...extra]);
    const target = { url: `${url}/app/hello-abcde/endpoint/hello?name=Ada`, method: "GET", connections: 32 };
    await load({ ...target, durationS: 2 }); // warm-up
    const [supervisor, ...workers] = processTree(child.pid);
    const before = [supervisor, ...workers].map(cpuMs);
    const r = await load({ ...target, durationS: 5 });
    const used = [supervisor, ...workers].map((pid, i) => ((cpuMs(pid) - before[i]) * 1000) / r.requests);
    rows.push({
      round,
      console: label,
      "req/s": Math.round(r.rps),
      "p50 ms": r.p50Ms.toFixed(2),
      "supervisor µs/req": used[0].toFixed(1),
      "workers µs/req": used.slice(1).reduce((a, b) => a + b, 0).toFixed(1),
      failures: r.failures,
    });
    await stopServe(child);
  }
}
console.table(rows);
