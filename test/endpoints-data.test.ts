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
          // Seed 000 and seed 001 example functions, verbatim but for the database name.
          seed000: `exports = async function (request, response) {
  // 1. Parse the incoming request
  const bodyJson = JSON.parse(request.body.text());
  // 2. Run the endpoint logic
  await context.services
    .get("mongodb-atlas")
    .db("myDb")
    .collection("myCollection")
    .insertOne({ date: new Date(), requestBody: bodyJson });
  // 3. Configure the response
  response.setBody("Request was successful");
}`.replace('"myDb"', JSON.stringify(dbName)),
          seed001: `exports = async function MyCustomEndpoint(request, response) { try { // 1. Parse data from the incoming request
 if (request.body === undefined) { throw new Error(\`Request body was not defined.\`); } const body = JSON.parse(request.body.text()); // 2. Handle the request
 const { insertedId } = await context.services .get("mongodb-atlas") .db("myDb") .collection("myCollection") .insertOne({ date: new Date(), requestBody: body }); // 3. Configure the response
 response.setStatusCode(201); // tip: You can also use EJSON.stringify instead of JSON.stringify.
 response.setBody( JSON.stringify({ insertedId, message: "Successfully saved the request body", }) ); } catch (error) { response.setStatusCode(400); response.setBody(error.message); } };`.replace('"myDb"', JSON.stringify(dbName)),
          seedDocs: `exports = () => context.services.get("mongodb-atlas").db(${JSON.stringify(dbName)}).collection("myCollection").find({}, { _id: 0, date: 0 }).toArray();`,
          userWrite: `exports = async function () { return ${coll.replace('"e2e"', JSON.stringify(dbName))}.insertOne({ by: context.user.id }); };`,
        },
        endpoints: [
          { route: "/write", http_method: "POST", function_name: "write", run_as_system: true },
          { route: "/user-write", http_method: "POST", function_name: "userWrite", run_as_system: false },
          { route: "/seed000", http_method: "POST", function_name: "seed000", run_as_system: true },
          { route: "/custom", http_method: "POST", function_name: "seed001", run_as_system: true },
          { route: "/seed-docs", http_method: "GET", function_name: "seedDocs", run_as_system: true },
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

  it("the seed 000 and seed 001 example functions store the parsed body; seed 001 answers 201 with insertedId", async () => {
    const r0 = await call(`${s.base}/seed000`, { method: "POST", headers: { "Content-Type": "application/json" }, body: '{ "message": "Hello, world!" }' });
    expect([r0.status, r0.text]).toEqual([200, "Request was successful"]);
    // The seed 001 curl, body as it sends it.
    const body = '{ "type": "event", "date": "2024-01-01T00:00:00.000Z", "name": "New Year Begins", "comment": "Happy New Year!" }';
    const r1 = await call(`${s.base}/custom`, { method: "POST", headers: { Accept: "application/json" }, body });
    expect(r1.status).toBe(201);
    expect(r1.json()).toEqual({ insertedId: expect.stringMatching(/^[0-9a-f]{24}$/), message: "Successfully saved the request body" });
    const empty = await call(`${s.base}/custom`, { method: "POST" });
    expect([empty.status, empty.text]).toEqual([400, "Request body was not defined."]);
    const docs = (await call(`${s.base}/seed-docs`)).json();
    expect(docs).toEqual([{ requestBody: { message: "Hello, world!" } }, { requestBody: JSON.parse(body) }]);
  });

  it("an authenticated user is held to the collection's rules (insert refused, function not silently run)", async () => {
    const login = (await call(`${s.url}/api/client/v2.0/app/data-${backend}/auth/providers/anon-user/login`, { method: "POST" })).json();
    const r = await call(`${s.base}/user-write`, { method: "POST", headers: { Authorization: `Bearer ${login.access_token}` } });
    expect(r.status).toBe(400);
    expect(r.json().error_code).toBe("FunctionExecutionError");
    expect(r.json().error).toMatch(/insert/i);
  });
});
