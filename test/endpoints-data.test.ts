// Endpoints reaching context.services.get("mongodb-atlas") through the real server: the system user
// bypasses rules (C51), an authenticated user is held to them. Embedded backend always; the driver
// backend too when MONGODB_URI points at a real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, serveApp, type TestServer } from "./helpers/app.js";

const coll = `context.services.get("mongodb-atlas").db("e2e").collection("locked")`;
const backends: [string, string | undefined][] = [["embedded", undefined]];
if (process.env.MONGODB_URI) backends.push(["driver", process.env.MONGODB_URI]);
else console.warn("endpoints-data: MONGODB_URI is not set; the driver backend is skipped (embedded still runs)");

describe.each(backends)("data through endpoints (%s backend)", (backend, uri) => {
  let s: TestServer;
  const dbName = `e2e_${backend}_${process.pid}`;
  beforeAll(async () => {
    s = await serveApp(
      {
        appId: `data-${backend}`,
        functions: {
          write: `exports = async function (request) {
            const c = ${coll.replace('"e2e"', JSON.stringify(dbName))};
            const { insertedId } = await c.insertOne(JSON.parse(request.body.text()));
            return { insertedId, found: await c.findOne({ _id: insertedId }), none: await c.findOne({ nomatch: 1 }) };
          };`,
          userWrite: `exports = async function () { return ${coll.replace('"e2e"', JSON.stringify(dbName))}.insertOne({ by: context.user.id }); };`,
        },
        endpoints: [
          { route: "/write", http_method: "POST", function_name: "write", run_as_system: true },
          { route: "/user-write", http_method: "POST", function_name: "userWrite", run_as_system: false },
        ],
        dataSources: {
          "mongodb-atlas": {
            rules: { [`${dbName}.locked`]: { roles: [{ name: "readOnly", apply_when: {}, read: true, write: false, insert: false, delete: false }] } },
          },
        },
        authProviders: { "anon-user": { name: "anon-user", type: "anon-user", disabled: false } },
      },
      uri ? { mongodbUri: uri } : {},
    );
  });
  afterAll(() => s?.stop());

  it("C51 C83 C85 a system endpoint writes past a read-only role; insertedId and findOne come back", async () => {
    const r = await call(`${s.base}/write`, { method: "POST", body: '{"text":"hi","n":1}' });
    expect(r.status).toBe(200);
    const j = r.json();
    expect(j.insertedId).toMatch(/^[0-9a-f]{24}$/);
    expect(j.found).toEqual({ _id: j.insertedId, text: "hi", n: 1 });
    expect(j.none).toBeNull();
  });

  it("an authenticated user is held to the collection's rules (insert refused, function not silently run)", async () => {
    const login = (await call(`${s.url}/api/client/v2.0/app/data-${backend}/auth/providers/anon-user/login`, { method: "POST" })).json();
    const r = await call(`${s.base}/user-write`, { method: "POST", headers: { Authorization: `Bearer ${login.access_token}` } });
    expect(r.status).toBe(400);
    expect(r.json().error_code).toBe("FunctionExecutionError");
    expect(r.json().error).toMatch(/insert/i);
  });
});
