// The README's promise: `pnpm start` serves examples/hello-app and answers the curls in its README as
// documented. The same requests over real HTTP, on the embedded store, with a data dir that outlives a
// restart.
import { createHmac } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "restitch";
import { call } from "./helpers/app.js";

const APP_DIR = path.resolve(import.meta.dirname, "../examples/hello-app");

describe("examples/hello-app as its README documents it", () => {
  let server: RunningServer;
  let dataDir: string;
  const base = () => `${server.url}/app/hello-abcde/endpoint`;
  afterAll(async () => {
    await server?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("serves /hello in JSON and EJSON, /sum through a private function, and both validated endpoints", async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "restitch-example-"));
    server = await startServer({ appDir: APP_DIR, port: 0, dataDir });
    const json = await call(`${base()}/hello?name=Ada`);
    expect(json.status).toBe(200);
    expect(json.json()).toMatchObject({ greeting: "Hello, Ada!", at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    const ejson = await call(`${base()}/hello?name=Ada`, { headers: { Accept: "application/ejson" } });
    expect(ejson.json().at).toEqual({ $date: { $numberLong: expect.stringMatching(/^\d+$/) } });
    expect((await call(`${base()}/sum?a=2&b=3`)).json()).toMatchObject({ sum: 5 });
    expect((await call(`${base()}/sum?a=two&b=3`)).status).toBe(400);

    const body = JSON.stringify({ action: "opened", issue: { number: 1 } });
    const sig = createHmac("sha256", "DEMO-ONLY-github-webhook-secret-do-not-use").update(body).digest("hex");
    const signed = await call(`${base()}/webhook/github`, { method: "POST", headers: { "Endpoint-Signature": `sha256=${sig}`, "X-GitHub-Event": "issues" }, body });
    expect(signed.status).toBe(200);
    const forged = await call(`${base()}/webhook/github`, { method: "POST", headers: { "Endpoint-Signature": `sha256=${sig}` }, body: `${body} ` });
    expect([forged.status, forged.json().error_code]).toEqual([401, "InvalidValidation"]);

    expect((await call(`${base()}/secret-param?secret=DEMO-ONLY-query-secret&x=1`)).status).toBe(200);
    expect((await call(`${base()}/secret-param?x=1`)).status).toBe(401);
  });

  it("keeps notes in the embedded store across a restart on the same data dir", async () => {
    const created = await call(`${base()}/notes`, { method: "POST", body: '{"text":"first note"}' });
    expect(created.status).toBe(201);
    expect((await call(`${base()}/notes`, { method: "POST", body: "{}" })).status).toBe(400);
    await server.close();
    server = await startServer({ appDir: APP_DIR, port: 0, dataDir });
    const notes = (await call(`${base()}/notes`)).json();
    expect(JSON.stringify(notes)).toContain("first note");
  });
});
