#!/usr/bin/env node
// isolated-vm needs --no-node-snapshot; re-exec once with it when it is missing.
import { spawn } from "node:child_process";
// node:sqlite and isolated-vm's prebuilt binary need Node 24; say so instead of failing on an import.
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(`restitch needs Node 24 or newer (this is Node ${process.versions.node}); in this repository \`source scripts/env.sh\` puts Node 24 first on PATH`);
  process.exit(1);
}
if (!process.execArgv.includes("--no-node-snapshot")) {
  const child = spawn(process.execPath, ["--no-node-snapshot", ...process.execArgv, import.meta.filename, ...process.argv.slice(2)], { stdio: "inherit" });
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
} else {
  const { main } = await import("../dist/index.js");
  await main(process.argv.slice(2));
}
