import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadApp } from "../src/index.js";
import { loadFailing, makeApp, problemAt, ROOT } from "./helpers.js";

describe("root config variants", () => {
  it("reads app_id, name and environment from realm_config.json, with environment values", async () => {
    const dir = await makeApp({
      "realm_config.json": { app_id: "myapp-abcde", name: "myapp", config_version: 20210101, environment: "production", deployment_model: "GLOBAL", location: "US-VA" },
      "environments/production.json": { values: { greeting: "hi", n: 3 } },
      "environments/development.json": { values: { greeting: "dev" } },
    });
    const app = await loadApp(dir);
    expect(app).toMatchObject({ dir: path.resolve(dir), appId: "myapp-abcde", name: "myapp", environment: "production", environmentValues: { greeting: "hi", n: 3 } });
    expect(app.warnings).toEqual([]);
  });

  it("reads root_config.json (newer exports) and falls back to the name when app_id is absent (C76: no environment → \"\")", async () => {
    const dir = await makeApp({
      "root_config.json": { name: "newer", deployment_model: "LOCAL", provider_region: "aws-us-east-1" },
      "environments/no-environment.json": { values: { tag: "none" } },
    });
    const app = await loadApp(dir);
    expect(app.appId).toBe("newer");
    expect(app.name).toBe("newer");
    expect(app.environment).toBe("");
    expect(app.environmentValues).toEqual({ tag: "none" });
  });

  it("reads a realm-cli v1 config.json app", async () => {
    const dir = await makeApp({ "config.json": { app_id: "legacy-xyz", name: "legacy", config_version: 20180301, security: {} } });
    const app = await loadApp(dir);
    expect(app.appId).toBe("legacy-xyz");
    expect(app.environmentValues).toEqual({});
  });

  it("refuses a directory that is not an app, and one that does not exist", async () => {
    const empty = await makeApp({});
    const err = await loadFailing(empty);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]!.message).toMatch(/realm_config\.json, root_config\.json, config\.json/);
    const missing = await loadFailing(path.join(empty, "nope"));
    expect(missing.problems[0]!.message).toMatch(/does not exist/);
  });
});

describe("values and secrets", () => {
  const app = {
    ...ROOT,
    "values/plain.json": { id: "abc", name: "plain", value: { list: [1, 2] }, from_secret: false },
    "values/fromSecret.json": { name: "fromSecret", value: "apiKeySecret", from_secret: true },
  };

  it("reads plain values and resolves from_secret values from <dir>/secrets.json by default (C74, C75)", async () => {
    const dir = await makeApp({ ...app, "secrets.json": { apiKeySecret: "s3cr3t-value" } });
    const loaded = await loadApp(dir);
    expect(loaded.values.get("plain")).toEqual({ name: "plain", value: { list: [1, 2] }, fromSecret: false });
    expect(loaded.values.get("fromSecret")).toEqual({ name: "fromSecret", value: "s3cr3t-value", fromSecret: true });
    expect([...loaded.secrets]).toEqual([["apiKeySecret", "s3cr3t-value"]]);
  });

  it("reads secrets from an explicit --secrets path instead of the default", async () => {
    const dir = await makeApp({ ...app, "secrets.json": { apiKeySecret: "default-file" } });
    const other = await makeApp({ "my-secrets.json": { apiKeySecret: "explicit-file" } });
    const loaded = await loadApp(dir, { secretsFile: path.join(other, "my-secrets.json") });
    expect(loaded.values.get("fromSecret")!.value).toBe("explicit-file");
  });

  it("a missing default secrets file means no secrets, but a referenced secret is then a problem", async () => {
    const plainOnly = await makeApp({ ...ROOT, "values/plain.json": app["values/plain.json"] });
    expect((await loadApp(plainOnly)).secrets.size).toBe(0);
    const err = await loadFailing(await makeApp(app));
    const p = problemAt(err.problems, "values/fromSecret.json", "value");
    expect(p.message).toBe('secret "apiKeySecret" is not defined in the secrets file (secrets.json)');
  });

  it("a missing explicit secrets file is a problem", async () => {
    const dir = await makeApp(ROOT);
    const err = await loadFailing(dir, { secretsFile: path.join(dir, "absent.json") });
    expect(problemAt(err.problems, "absent.json").message).toBe("secrets file not found");
  });

  it("value file name is the fallback name; duplicate names and broken files are problems", async () => {
    const dir = await makeApp({
      ...ROOT,
      "values/a.json": { value: 1 },
      "values/b.json": { name: "a", value: 2 },
      "values/c.json": '{ "name": "c", "value": }',
    });
    const err = await loadFailing(dir);
    expect(problemAt(err.problems, "values/b.json", "name").message).toBe('value "a" is already defined in values/a.json');
    expect(problemAt(err.problems, "values/c.json").message).toBe("invalid JSON at line 1:25: expected a value (string, number, object, array, true, false or null)");
    expect(err.problems).toHaveLength(2);
  });
});
