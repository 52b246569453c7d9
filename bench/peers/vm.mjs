// The unsafe shortcut: the app's own function sources run in ONE reused node:vm context, with host objects
// (the store, node:crypto) handed straight in. No isolation between calls or from the host, no limits;
// measured only to show what that shortcut buys. Usage: node peers/vm.mjs <port> <dataDir>.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import vm from "node:vm";
import * as BSON from "bson";
import { EJSON } from "bson";
import { createEmbeddedDataService } from "@restitch/mongodb";
import { APP_DIR } from "../workload.mjs";
import { listenAndReport } from "./listen.mjs";

const [port, dataDir] = process.argv.slice(2);
const store = await createEmbeddedDataService({ name: "mongodb-atlas", dataDir });

// Objects made in the context have the context's Object prototype, which the store refuses as "not a plain
// document": cross the realm boundary by EJSON, as any vm-based host must.
const hostCopy = (v) => EJSON.parse(EJSON.stringify(v, { relaxed: false }), { relaxed: false });
const guestCollection = (c) => ({ findOne: (filter, projection) => c.findOne(hostCopy(filter), projection && hostCopy(projection)) });

const functions = {};
const sandbox = vm.createContext({
  BSON,
  utils: { crypto: { hmac: (input, secret, alg, enc) => createHmac(alg, secret).update(input).digest(enc) } },
  context: {
    services: { get: () => ({ db: (d) => ({ collection: (c) => guestCollection(store.db(d).collection(c)) }) }) },
    functions: { execute: async (name, ...args) => functions[name](...args) },
  },
});
for (const name of ["hello", "hmac", "data", "exec", "add"]) {
  const source = readFileSync(`${APP_DIR}functions/${name}.js`, "utf8");
  functions[name] = new vm.Script(`(function () { var exports; var module = {}; ${source}\n; return exports ?? module.exports; })()`, {
    filename: `${name}.js`,
  }).runInContext(sandbox);
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const request = { query: Object.fromEntries(url.searchParams), headers: req.headers, body: body.length ? { text: () => body.toString("utf8") } : undefined };
  const fn = functions[url.pathname.slice(1)];
  if (!fn) return res.writeHead(404).end();
  try {
    const value = await fn(request, {});
    res.writeHead(200, { "content-type": "application/json" }).end(EJSON.stringify(value, { relaxed: true }));
  } catch (e) {
    res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: String(e) }));
  }
});
server.listen(Number(port), "127.0.0.1");
listenAndReport(server, () => store.close());
