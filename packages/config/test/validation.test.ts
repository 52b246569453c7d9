import { describe, expect, it } from "vitest";
import { AppConfigError, loadApp } from "../src/index.js";
import { loadFailing, makeApp, ROOT } from "./helpers.js";

describe("a broken app lists every problem at once", () => {
  it("reports each problem with its file and field, in one readable message", async () => {
    const dir = await makeApp({
      ...ROOT,
      "secrets.json": { present: "value-1" },
      "functions/config.json": [{ name: "fn", private: "no" }],
      "functions/fn.js": "exports = () => 1;",
      "values/v.json": { name: "v", value: "missing-secret", from_secret: true },
      "environments/development.json": '{ "values": { "a": 1, } }',
      "http_endpoints/config.json": [
        { route: "noslash", http_method: "FETCH", function_name: "fn" },
        { route: "/ghost", http_method: "GET", function_name: "ghost" },
        { route: "/q", http_method: "GET", function_name: "fn", validation_method: "SECRET_AS_QUERY_PARAM" },
        { route: "/p", http_method: "POST", function_name: "fn", validation_method: "VERIFY_PAYLOAD", secret_name: "nope" },
        { route: "/r", http_method: "GET", function_name: "fn", return_type: "XML", respond_result: "yes" },
        { route: "/u", http_method: "GET", function_name: "fn", run_as_user_id: "u", run_as_user_id_script_source: "exports = () => 'u'" },
      ],
      "data_sources/db/config.json": { name: "db" },
    });
    const err = await loadFailing(dir);
    const ep = "http_endpoints/config.json";
    const expected: [string, string | undefined, string][] = [
      ["environments/development.json", undefined, "invalid JSON at line 1:23: trailing comma before '}'"],
      ["values/v.json", "value", 'secret "missing-secret" is not defined in the secrets file (secrets.json)'],
      ["functions/config.json", "[0].private", "expected a boolean, got a string"],
      [ep, "[0].http_method", 'unknown value "FETCH"; expected one of "GET", "POST", "PUT", "PATCH", "DELETE", "*"'],
      [ep, "[0].route", 'must start with "/" (got "noslash")'],
      [ep, "[1].function_name", 'function "ghost" does not exist'],
      [ep, "[2].secret_name", "is required when validation_method is SECRET_AS_QUERY_PARAM"],
      [ep, "[3].secret_name", 'secret "nope" is not defined in the secrets file (secrets.json)'],
      [ep, "[4].respond_result", "expected a boolean, got a string"],
      [ep, "[4].return_type", 'unknown value "XML"; expected one of "JSON", "EJSON"'],
      [ep, "[5].run_as_user_id", "cannot be used together with run_as_user_id_script_source"],
      ["data_sources/db/config.json", "type", "is required"],
    ];
    const sortKey = (p: { file: string; field?: string | undefined; message: string }) => `${p.file} ${p.field ?? ""} ${p.message}`;
    expect(err.problems.map(sortKey).sort()).toEqual(expected.map(([file, field, message]) => sortKey({ file, field, message })).sort());
    expect(err.problems).toHaveLength(12);
    const lines = err.message.split("\n");
    expect(lines[0]).toMatch(/^invalid App Services app at .+ \(12 problems\):$/);
    for (const [file, field, message] of expected) expect(lines).toContain(field ? `  ${file}: ${field}: ${message}` : `  ${file}: ${message}`);
  });

  it("reports JSON syntax errors with line:column", async () => {
    const dir = await makeApp({ "realm_config.json": '{\n  "app_id": "x",\n  "name": "x"\n  "environment": ""\n}' });
    const err = await loadFailing(dir);
    expect(err.problems).toEqual([{ file: "realm_config.json", message: "invalid JSON at line 4:3: expected ',' or '}'" }]);
  });
});

describe("warnings", () => {
  it("warn about unknown fields (with file and field) without failing the load", async () => {
    const dir = await makeApp({
      "realm_config.json": { app_id: "w", name: "w", colour: "blue" },
      "functions/config.json": [{ name: "f", privat: true }],
      "functions/f.js": "exports = () => 1;",
      "http_endpoints/config.json": [{ route: "/f", http_method: "GET", function_name: "f", respond_reslt: true }],
      "http_endpoints/Svc/config.json": { name: "Svc", type: "http", config: {} },
      "http_endpoints/Svc/incoming_webhooks/h/config.json": { name: "h", options: { httpMethod: "GET", validationMethod: "NO_VALIDATION", extra: 1 } },
      "http_endpoints/Svc/incoming_webhooks/h/source.js": "exports = () => 1;",
    });
    const app = await loadApp(dir);
    expect(app.warnings).toEqual([
      { file: "realm_config.json", field: "colour", message: "unknown field (ignored)" },
      { file: "functions/config.json", field: "[0].privat", message: "unknown field (ignored)" },
      { file: "http_endpoints/config.json", field: "[0].respond_reslt", message: "unknown field (ignored)" },
      { file: "http_endpoints/Svc/incoming_webhooks/h/config.json", field: "options.extra", message: "unknown field (ignored)" },
    ]);
    expect(app.functions.get("f")!.private).toBe(false);
  });
});

describe("secret values never appear in messages", () => {
  const SECRET = "hunter2-Sup3r-S3cret";
  const assertClean = (err: AppConfigError) => {
    expect(err.message).not.toContain(SECRET);
    expect(err.message).not.toContain("hunter2");
    expect(JSON.stringify([err.problems, err.warnings])).not.toContain("hunter2");
  };

  it("not from a secrets file with a syntax error or a non-string value", async () => {
    const syntax = await makeApp({ ...ROOT, "secrets.json": `{\n  "a": "${SECRET}",\n  "b": ${SECRET}\n}` });
    const e1 = await loadFailing(syntax);
    expect(e1.problems).toEqual([{ file: "secrets.json", message: "invalid JSON at line 3:8: expected a value (string, number, object, array, true, false or null)" }]);
    assertClean(e1);
    const nonString = await makeApp({ ...ROOT, "secrets.json": { a: [SECRET] } });
    const e2 = await loadFailing(nonString);
    expect(e2.problems).toEqual([{ file: "secrets.json", field: "a", message: "secret values must be strings, got an array" }]);
    assertClean(e2);
  });

  it("not from a legacy webhook's literal secret, nor from secret-backed values and endpoints", async () => {
    const dir = await makeApp({
      ...ROOT,
      "secrets.json": { s: SECRET },
      "values/v.json": { name: "v", value: "s", from_secret: true, unknown: SECRET },
      "functions/f.js": "exports = () => 1;",
      "http_endpoints/config.json": [{ route: "/x", http_method: "GET", function_name: "missing", validation_method: "VERIFY_PAYLOAD", secret_name: "s" }],
      "http_endpoints/S/config.json": { name: "S", type: "http", config: {} },
      "http_endpoints/S/incoming_webhooks/h/config.json": { name: "h", options: { httpMethod: "GET", validationMethod: "BOGUS", secret: SECRET } },
      "http_endpoints/S/incoming_webhooks/h/source.js": "exports = () => 1;",
    });
    const err = await loadFailing(dir);
    expect(err.problems.map((p) => p.field)).toEqual(["[0].function_name", "options.validationMethod"]);
    assertClean(err);
  });
});
