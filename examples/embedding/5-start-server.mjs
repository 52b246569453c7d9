// What `restitch serve` does, in one call: load the export, open its data sources (embedded store or
// MongoDB), auth, the runtime and the HTTP server.
// node --no-node-snapshot examples/embedding/5-start-server.mjs
import { startServer } from "restitch";

const server = await startServer({
  appDir: new URL("../hello-app", import.meta.url).pathname,
  port: 0, // any free port
  host: "127.0.0.1",
  // mongodbUri: "mongodb://127.0.0.1:27017", // your cluster; or dataDir: "./data" for a durable embedded store
  runtime: { limits: { wallTimeMs: 10_000 }, pool: { maxIsolates: 4 } },
  onCall: (e) => console.log(`call: ${e.method} ${e.route} -> ${e.status}, logs: ${JSON.stringify(e.logs)}`),
});
console.log("app:", server.app.appId, "endpoints:", server.app.endpoints.length);

const hello = await fetch(`${server.url}/app/hello-abcde/endpoint/hello?name=Ada`);
console.log("GET /hello:", hello.status, (await hello.json()).greeting);

// The client auth API is there too: an anonymous login (auth/providers.json has anon-user on).
const login = await fetch(`${server.url}/api/client/v2.0/app/hello-abcde/auth/providers/anon-user/login`, { method: "POST" });
console.log("anonymous login:", login.status, Object.keys(await login.json()).sort().join(","));

await server.close(); // drains in-flight calls, then closes the runtime and the data services
