// Writes a workerd capnp config (one worker, one loopback socket) and the worker module into `dir`.
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function writeWorkerdConfig(dir, port) {
  copyFileSync(new URL("./workerd-worker.mjs", import.meta.url), join(dir, "worker.mjs"));
  const config = join(dir, "config.capnp");
  writeFileSync(
    config,
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .bench) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const bench :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.mjs") ],
  compatibilityDate = "2024-09-23",
);
`,
  );
  return config;
}
