#!/usr/bin/env node
// isolated-vm needs --no-node-snapshot; re-exec once with it when it is missing.
import { spawn } from "node:child_process";
if (!process.execArgv.includes("--no-node-snapshot")) {
  const child = spawn(process.execPath, ["--no-node-snapshot", ...process.execArgv, import.meta.filename, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
} else {
  const { main } = await import("../dist/index.js");
  await main(process.argv.slice(2));
}
