// docs/embedding.md shows the samples in examples/embedding/ verbatim; this runs each one as a reader
// would (node --no-node-snapshot <file>) and checks what it prints, so the guide cannot rot.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runNode, type Finished } from "./helpers/process.js";

const DIR = path.resolve(import.meta.dirname, "../examples/embedding");
const GUIDE = path.resolve(import.meta.dirname, "../docs/embedding.md");

function runSample(file: string): Promise<Finished> {
  return runNode(["--no-node-snapshot", path.join(DIR, file)], { cwd: DIR });
}

async function lines(file: string): Promise<string[]> {
  const r = await runSample(file);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  // The guide prints each sample's output under it.
  expect(readFileSync(GUIDE, "utf8"), `output of ${file}`).toContain("```\n" + r.stdout.trimEnd() + "\n```");
  return r.stdout.trimEnd().split("\n");
}

describe("examples/embedding (docs/embedding.md)", () => {
  it("the guide shows every sample exactly as it is on disk", () => {
    const guide = readFileSync(GUIDE, "utf8");
    const samples = readdirSync(DIR).filter((f) => f.endsWith(".mjs"));
    expect(samples.length).toBe(5);
    for (const f of samples) expect(guide, f).toContain("```js\n" + readFileSync(path.join(DIR, f), "utf8").trimEnd() + "\n```");
  });

  it("1: createRuntime, app(), call() with a bridge, errors and limits as results, stats, close", async () => {
    expect(await lines("1-run-a-function.mjs")).toEqual([
      "ok: true value: Hi, Ada (3) logs: [ 'greeting Ada' ]",
      "boom: threw kaboom",
      "spin: cpu CpuTimeLimitExceeded",
      "calls: 3 queued: 0 busy: 0",
    ]);
  });

  it("2: user, environment, a host service through serviceClients + bindings, canExecute", async () => {
    expect(await lines("2-bridge-and-services.mjs")).toEqual([
      "{ user: 'ada', system: false, env: 'production', visits: 1 }",
      "{ user: 'ada', system: false, env: 'production', visits: 2 }",
      "{ user: 'bob', system: false, env: 'production', visits: 1 }",
      "refused: function 'internal' is private",
    ]);
  });

  it("3: the mongodb-atlas service on the embedded store, as system and as a user under rules", async () => {
    expect(await lines("3-mongodb-service.mjs")).toEqual(["system insert: true", "user insert: false insert not permitted", "user count: 1"]);
  });

  it("4: createServer from parts, server.fetch in-process and listen on a port", async () => {
    expect(await lines("4-http-server.mjs")).toEqual([
      "call: GET /sum -> 200",
      'fetch: 200 {"a":2,"b":3,"sum":5}',
      "call: POST /notes -> 201",
      "POST /notes: 201",
      "call: GET /notes -> 200",
      "GET /notes: [ 'from the embedding guide' ]",
    ]);
  });

  it("5: startServer, as restitch serve does (endpoints and the client auth API)", async () => {
    expect(await lines("5-start-server.mjs")).toEqual([
      "app: hello-abcde endpoints: 7",
      'call: GET /hello -> 200, logs: ["greeting Ada"]',
      "GET /hello: 200 Hello, Ada!",
      // onCall sees every request, the client auth API's too (route: the router's pattern).
      "call: POST /api/client/v2.0/app/:appId/auth/providers/:provider/login -> 200, logs: []",
      "anonymous login: 200 access_token,device_id,refresh_token,user_id",
    ]);
  });
});
