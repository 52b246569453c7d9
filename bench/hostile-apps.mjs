// The apps of the hostile load test (bench/hostile.mjs) and of its CI-sized version
// (test/security/load.test.ts): a normal app whose every answer is known, and one app per hostile case.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";


const ENDPOINT = {
  validation_method: "NO_VALIDATION",
  respond_result: true,
  fetch_custom_user_data: false,
  create_user_on_auth: false,
  disabled: false,
  return_type: "JSON",
};
const DATA_SOURCE = { name: "mongodb-atlas", type: "mongodb-atlas", config: { clusterName: "Cluster0" } };
const coll = `context.services.get("mongodb-atlas").db("bench").collection("docs")`;

const DOC = { _id: "doc-1", name: "Ada Lovelace", tags: ["math", "engines"], visits: 42 };
const ECHO_BODY = JSON.stringify({ id: "order-4711", items: [1, 2, 3].map((i) => ({ sku: `sku-${i}`, qty: i })) });

/** The normal app: three endpoints, one of them a data call, each with the exact answer it must give. */
export const NORMAL = {
  appId: "normal-aaaaa",
  functions: {
    hello: `exports = function () { return { hello: "world" }; };`,
    echo: `exports = function (request) { const b = JSON.parse(request.body.text()); return { id: b.id, items: b.items.length }; };`,
    data: `exports = async function () { return await ${coll}.findOne({ _id: "doc-1" }); };`,
    seed: `exports = async function () { await ${coll}.updateOne({ _id: "doc-1" }, { $set: ${JSON.stringify({ name: DOC.name, tags: DOC.tags, visits: DOC.visits })} }, { upsert: true }); return "seeded"; };`,
  },
  endpoints: [
    ["/hello", "GET", "hello"],
    ["/echo", "POST", "echo"],
    ["/data", "GET", "data"],
    ["/seed", "POST", "seed"],
  ],
  requests: [
    { path: "/hello", method: "GET", expect: JSON.stringify({ hello: "world" }) },
    { path: "/echo", method: "POST", body: ECHO_BODY, headers: { "content-type": "application/json" }, expect: JSON.stringify({ id: "order-4711", items: 3 }) },
    { path: "/data", method: "GET", expect: JSON.stringify(DOC) },
  ],
};

/** Hostile apps: one app each, so each has its own pool, as separate tenants would. */
export const HOSTILE = [
  ["cpu-loop", `exports = function () { for (;;) {} };`],
  ["cpu-after-await", `exports = async function () { await ${coll}.findOne({}); for (;;) {} };`],
  ["memory-bomb", `exports = function () { const keep = []; for (;;) keep.push(new Array(100000).fill(Math.random())); };`],
  ["regex", `exports = function () { return /^(a+)+$/.test("a".repeat(40) + "!"); };`],
  ["microtasks", `exports = function () { const again = () => Promise.resolve().then(again); again(); return "queued"; };`],
  ["host-calls", `exports = async function () { const c = ${coll}; for (;;) await Promise.all(Array.from({ length: 500 }, () => c.findOne({}))); };`],
  ["logs", `exports = function () { const line = "x".repeat(1000); for (let i = 0; i < 100000; i++) console.log(line); return "logged"; };`],
  [
    "execute-fanout",
    `exports = async function (d) { d = d || 0; let n = 0; for (let i = 0; i < 2; i++) { try { n += await context.functions.execute("run", d + 1); } catch (e) { n++; } } return n; };`,
  ],
  ["huge-result", `exports = function () { return "x".repeat(17 * 1024 * 1024); };`],
].map(([name, source]) => ({
  appId: `${name}-hhhhh`,
  name,
  functions: { run: source },
  endpoints: [["/run", "GET", "run"]],
  requests: [{ path: "/run", method: "GET" }],
}));

/** Writes `app` as an App Services export under root/<appId>; returns its directory. */
export function writeApp(root, app) {
  const dir = join(root, app.appId);
  const put = (file, value) => {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    writeFileSync(join(dir, file), typeof value === "string" ? value : JSON.stringify(value, null, 2));
  };
  put("realm_config.json", { app_id: app.appId, name: app.appId.replace(/-\w+$/, ""), config_version: 20210101, environment: "" });
  put("functions/config.json", Object.keys(app.functions).map((name) => ({ name, private: false, run_as_system: true })));
  for (const [name, source] of Object.entries(app.functions)) put(`functions/${name}.js`, source);
  put("http_endpoints/config.json", app.endpoints.map(([route, http_method, function_name]) => ({ ...ENDPOINT, route, http_method, function_name })));
  put("data_sources/mongodb-atlas/config.json", DATA_SOURCE);
  return dir;
}
