/** Runs a Node script in a child process to completion (the way a user runs it) and collects its output. */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runNode(args: string[], options: { cwd?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], ...options });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export const RESTITCH_BIN = path.resolve(import.meta.dirname, "../../packages/cli/bin/restitch.js");

export interface Served {
  child: ChildProcess;
  url: string;
  /** Worker pids from the listening line (supervised mode). */
  pids: number[];
  stdout(): string;
  stderr(): string;
}

/**
 * `restitch serve <args> --port 0` in a child process, as users start it; resolves once it prints its
 * listening line. The child is added to `children` (stop them with stopChildren). `nodeArgs`: flags for
 * node itself, before the program.
 */
export async function serveRestitch(args: string[], children: ChildProcess[], env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Served> {
  const child = spawn(process.execPath, [...nodeArgs, RESTITCH_BIN, "serve", ...args, "--port", "0"], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const line = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no listening line; stderr: ${err}`)), 20_000);
    child.stdout!.on("data", () => {
      const m = out.split("\n").find((l) => l.includes("listening"));
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
  });
  const url = /http:\/\/[\d.]+:\d+/.exec(line)![0];
  const pids = (/pids ([\d, ]+)/.exec(line)?.[1] ?? "").split(",").map((p) => Number(p.trim())).filter(Boolean);
  return { child, url, pids, stdout: () => out, stderr: () => err };
}

/** SIGTERM (a supervisor then removes its temporary data directory), SIGKILL if one does not stop in 5 s. */
export async function stopChildren(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => c.kill("SIGKILL"), 5_000);
          c.once("exit", () => (clearTimeout(t), resolve()));
          c.kill("SIGTERM");
        }),
    ),
  );
}
