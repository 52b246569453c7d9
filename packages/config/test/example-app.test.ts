import { createHmac } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { loadApp } from "../src/index.js";

const APP = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../examples/hello-app");

describe("examples/hello-app", () => {
  it("loads without problems or warnings, with the documented endpoints", async () => {
    const app = await loadApp(APP);
    expect(app.warnings).toEqual([]);
    expect(app).toMatchObject({ appId: "hello-abcde", environment: "development", environmentValues: { greeting: "Hello", maxNotes: 20 } });
    expect(app.endpoints.map((e) => [e.httpMethod, e.route, e.functionName, e.validationMethod, e.returnType, e.runAsSystem])).toEqual([
      ["GET", "/hello", "hello", "NO_VALIDATION", "JSON", true],
      ["POST", "/echo", "echo", "NO_VALIDATION", "EJSON", true],
      ["GET", "/sum", "sumEndpoint", "NO_VALIDATION", "JSON", true],
      ["POST", "/webhook/github", "githubWebhook", "VERIFY_PAYLOAD", "JSON", true],
      ["GET", "/secret-param", "secretParam", "SECRET_AS_QUERY_PARAM", "JSON", true],
      ["POST", "/notes", "notes/create", "NO_VALIDATION", "JSON", true],
      ["GET", "/notes", "notes/list", "NO_VALIDATION", "JSON", true],
    ]);
    expect(app.functions.get("sum")!.private).toBe(true);
    expect(app.values.get("demoApiKey")).toEqual({ name: "demoApiKey", value: app.secrets.get("demoApiKeySecret"), fromSecret: true });
    expect(app.dataSources.map((d) => [d.name, d.type, [...d.rules.keys()]])).toEqual([["mongodb-atlas", "mongodb-atlas", ["hello.notes"]]]);
  });

  it("every function source is valid JavaScript that assigns `exports`", async () => {
    const app = await loadApp(APP);
    for (const fn of app.functions.values()) {
      expect(() => new vm.Script(fn.source, { filename: fn.file }), fn.file).not.toThrow();
      expect(fn.source, fn.file).toMatch(/^exports = /m);
    }
  });

  it("the README's signature and query secret match secrets.json", async () => {
    const app = await loadApp(APP);
    const readme = await readFile(path.join(APP, "README.md"), "utf8");
    const secret = /SECRET='([^']+)'/.exec(readme)![1]!;
    const body = /BODY='([^']+)'/.exec(readme)![1]!;
    const shown = /echo "\$SIG"\n# ([0-9a-f]{64})/.exec(readme)![1];
    expect(secret).toBe(app.secrets.get("githubWebhookSecret"));
    expect(shown).toBe(createHmac("sha256", secret).update(body).digest("hex"));
    expect(readme).toContain(`?secret=${app.secrets.get("secretParam")}&x=1`);
  });
});
