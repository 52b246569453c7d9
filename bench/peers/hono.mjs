// The ceiling: the same four handlers as plain Hono routes on @hono/node-server, no isolate, calling the
// embedded store directly. Usage: node peers/hono.mjs <port> <dataDir>; prints "listening <port>" when ready.
import { createHmac } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { ObjectId } from "bson";
import { createEmbeddedDataService } from "@restitch/mongodb";
import { COLLECTION, DB, HMAC_SECRET } from "../workload.mjs";
import { listenAndReport } from "./listen.mjs";

const [port, dataDir] = process.argv.slice(2);
const store = await createEmbeddedDataService({ name: "mongodb-atlas", dataDir });
const docs = store.db(DB).collection(COLLECTION);
const add = (a, b) => a + b;

const app = new Hono();
app.get("/hello", (c) => c.json({ hello: "world" }));
app.post("/hmac", async (c) => {
  const text = await c.req.text();
  const doc = JSON.parse(text);
  return c.json({ id: doc.id, items: doc.items.length, hmac: createHmac("sha256", HMAC_SECRET).update(text).digest("hex") });
});
app.get("/data", async (c) => {
  const doc = await docs.findOne({ _id: new ObjectId(c.req.query("id")) });
  return c.json({ ...doc, _id: doc._id.toHexString() });
});
app.get("/exec", async (c) => c.json({ sum: await add(2, 3) }));

listenAndReport(serve({ fetch: app.fetch, port: Number(port), hostname: "127.0.0.1" }), () => store.close());
