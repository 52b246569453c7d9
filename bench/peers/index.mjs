// Starting and stopping each peer. start(dataDir) resolves with { pid, base, stop() }: base is the URL
// that the workload's paths go under; pid is the root of the server's process tree (CPU and RSS).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import workerd from "workerd";
import { startServe, stopServe } from "restitch";
import { APP_DIR, APP_ID } from "../workload.mjs";
import { writeWorkerdConfig } from "./workerd.mjs";

const here = new URL(".", import.meta.url).pathname;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** A Node peer script that prints "listening <port>" when ready. */
function nodePeer(script) {
  return async (dataDir) => {
    const child = spawn(process.execPath, [join(here, script), "0", dataDir], { stdio: ["ignore", "pipe", "inherit"] });
    const port = await new Promise((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on("exit", (code) => reject(new Error(`${script} exited (${code}) before listening`)));
    });
    return { pid: child.pid, base: `http://127.0.0.1:${port}`, stop: () => stopChild(child) };
  };
}

function restitchPeer(workers) {
  return async (dataDir) => {
    const { child, url } = await startServe([APP_DIR, "--workers", String(workers), "--data-dir", dataDir]);
    return { pid: child.pid, base: `${url}/app/${APP_ID}/endpoint`, stop: () => stopServe(child) };
  };
}

async function startWorkerd() {
  const dir = mkdtempSync(join(tmpdir(), "restitch-bench-workerd-"));
  const port = await freePort();
  const child = spawn(workerd.default, ["serve", writeWorkerdConfig(dir, port)], { stdio: ["ignore", "inherit", "inherit"] });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`workerd exited (${child.exitCode}) before listening`);
    try {
      if ((await fetch(`${base}/hello`)).ok) break;
    } catch {
      if (Date.now() > deadline) throw new Error("workerd did not answer within 15 s");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    pid: child.pid,
    base,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const CORES = availableParallelism();

/** Every peer, in the order the table shows them. */
export const PEERS = [
  { name: "restitch", note: "restitch serve, default settings (1 worker process)", start: restitchPeer(1) },
  { name: `restitch x${CORES}`, note: `restitch serve --workers ${CORES}`, start: restitchPeer(CORES) },
  { name: "hono", note: "plain Hono on @hono/node-server, no isolate (the ceiling)", start: nodePeer("hono.mjs") },
  { name: "workerd", note: "workerd ES-module worker (the isolate peer; /data reads an in-memory Map)", start: startWorkerd },
  { name: "node:vm", note: "one reused node:vm context, host objects handed in (the unsafe shortcut)", start: nodePeer("vm.mjs") },
];
