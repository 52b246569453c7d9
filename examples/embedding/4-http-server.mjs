// Embed the HTTP edge: load an export, build the server from its parts, answer requests in-process
// (server.fetch, no socket) and on a real port.
// node --no-node-snapshot examples/embedding/4-http-server.mjs
import { loadApp } from "@restitch/config";
import { createEmbeddedDataService, createServiceBinding, mongodbGuestClient, MONGODB_SERVICE_TYPE } from "@restitch/mongodb";
import { createServer } from "@restitch/router";
import { createRuntime } from "@restitch/runtime";

const app = await loadApp(new URL("../hello-app", import.meta.url).pathname); // throws AppConfigError listing every problem
const runtime = createRuntime({ serviceClients: { [MONGODB_SERVICE_TYPE]: mongodbGuestClient } });
const data = await createEmbeddedDataService({ name: "mongodb-atlas" });
const server = createServer({
  apps: [app],
  runtime,
  // Services for each call, bound to who it runs as (hello-app's endpoints all run as the system user;
  // startServer in the next sample also applies rules for users and serves the client auth API).
  dataServices: (_app, identity) => (identity.runningAsSystem ? { "mongodb-atlas": createServiceBinding(data, { system: true }) } : undefined),
  limits: { maxBodyBytes: 1 << 20 }, // HTTP edge limits
  callLimits: { wallTimeMs: 5_000 }, // per-call runtime limits for endpoint calls
  onCall: (e) => console.log(`call: ${e.method} ${e.route} -> ${e.status}`),
});

// In-process: a WHATWG Request in, a Response out (useful in tests, or behind another HTTP framework).
const inProcess = await server.fetch(new Request("http://local/app/hello-abcde/endpoint/sum?a=2&b=3"));
console.log("fetch:", inProcess.status, await inProcess.text());

// On a socket:
const { url, close } = await server.listen(0, "127.0.0.1");
const posted = await fetch(`${url}/app/hello-abcde/endpoint/notes`, { method: "POST", body: JSON.stringify({ text: "from the embedding guide" }) });
console.log("POST /notes:", posted.status);
const listed = await (await fetch(`${url}/app/hello-abcde/endpoint/notes`)).json();
console.log("GET /notes:", listed.notes.map((n) => n.text));
await close(); // stops accepting, drains in-flight calls
await runtime.close();
await data.close();
