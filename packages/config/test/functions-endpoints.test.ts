import { describe, expect, it } from "vitest";
import { loadApp } from "../src/index.js";
import { loadFailing, makeApp, problemAt, ROOT } from "./helpers.js";

const SRC = "exports = function () { return 1; };";

describe("functions", () => {
  it("reads functions/<name>.js with nested names and functions/config.json settings; unconfigured files get defaults", async () => {
    const dir = await makeApp({
      ...ROOT,
      "functions/config.json": [
        { name: "sum", private: true, can_evaluate: { "%%user.type": "server" }, disable_arg_logs: true, run_as_system: true },
        { name: "utils/add", private: false, run_as_user_id: "abc123" },
      ],
      "functions/sum.js": "exports = (a, b) => a + b;",
      "functions/utils/add.js": SRC,
      "functions/plain.js": SRC,
      "functions/node_modules/lodash/index.js": "module.exports = {};",
      "functions/package.json": { dependencies: {} },
    });
    const app = await loadApp(dir);
    expect([...app.functions.keys()].sort()).toEqual(["plain", "sum", "utils/add"]);
    expect(app.functions.get("sum")).toEqual({
      name: "sum",
      source: "exports = (a, b) => a + b;",
      file: "functions/sum.js",
      private: true,
      canEvaluate: { "%%user.type": "server" },
      disableArgLogs: true,
      runAsSystem: true,
    });
    expect(app.functions.get("utils/add")).toMatchObject({ file: "functions/utils/add.js", private: false, runAsUserId: "abc123" });
    expect(app.functions.get("plain")).toEqual({ name: "plain", source: SRC, file: "functions/plain.js", private: false });
  });

  it("reads the older functions/<name>/source.js layout with functions/<name>/config.json", async () => {
    const dir = await makeApp({
      "config.json": { app_id: "legacy-abc", name: "legacy" },
      "functions/old/source.js": SRC,
      "functions/old/config.json": { name: "old", private: true, can_evaluate: {} },
      "functions/bare/source.js": SRC,
    });
    const app = await loadApp(dir);
    expect(app.functions.get("old")).toEqual({ name: "old", source: SRC, file: "functions/old/source.js", private: true, canEvaluate: {} });
    expect(app.functions.get("bare")).toMatchObject({ file: "functions/bare/source.js", private: false });
  });

  it("the same name in both layouts, a configured function without a source, and run_as_user_id + script are problems", async () => {
    const dir = await makeApp({
      ...ROOT,
      "functions/config.json": [{ name: "ghost" }, { name: "twice", run_as_user_id: "u1", run_as_user_id_script_source: "exports = () => 'u1'" }],
      "functions/twice.js": SRC,
      "functions/twice/source.js": SRC,
    });
    const err = await loadFailing(dir);
    expect(problemAt(err.problems, "functions/config.json", "[0].name").message).toBe('function "ghost" has no source file (functions/ghost.js)');
    expect(problemAt(err.problems, "functions/config.json", "[1].run_as_user_id").message).toBe("cannot be used together with run_as_user_id_script_source");
    expect(problemAt(err.problems, "functions/twice/source.js").message).toBe('function "twice" is defined twice: functions/twice.js and functions/twice/source.js');
    expect(err.problems).toHaveLength(3);
  });
});

describe("HTTPS endpoints", () => {
  const fns = {
    "functions/config.json": [
      { name: "sysFn", run_as_system: true, can_evaluate: { "%%request.requestHeaders.x-key": "k" } },
      { name: "userFn", run_as_user_id: "user-1" },
    ],
    "functions/sysFn.js": SRC,
    "functions/userFn.js": SRC,
  };

  it("applies defaults: NO_VALIDATION, JSON, everything false (C24 default return type)", async () => {
    const dir = await makeApp({ ...ROOT, ...fns, "http_endpoints/config.json": [{ route: "/min", http_method: "GET", function_name: "userFn" }] });
    const [ep] = (await loadApp(dir)).endpoints;
    expect(ep).toEqual({
      route: "/min",
      httpMethod: "GET",
      functionName: "userFn",
      validationMethod: "NO_VALIDATION",
      respondResult: false,
      fetchCustomUserData: false,
      createUserOnAuth: false,
      disabled: false,
      returnType: "JSON",
      runAsUserId: "user-1",
    });
  });

  it("resolves run-as and can_evaluate: the endpoint's own value wins, else the function's (C50, C52, C61)", async () => {
    const dir = await makeApp({
      ...ROOT,
      ...fns,
      "http_endpoints/config.json": [
        { route: "/inherit", http_method: "POST", function_name: "sysFn", respond_result: true, return_type: "EJSON" },
        { route: "/own", http_method: "*", function_name: "sysFn", run_as_system: false, run_as_user_id: "user-2", can_evaluate: false },
      ],
    });
    const [inherit, own] = (await loadApp(dir)).endpoints;
    expect(inherit).toMatchObject({ runAsSystem: true, canEvaluate: { "%%request.requestHeaders.x-key": "k" }, respondResult: true, returnType: "EJSON" });
    expect(own).toMatchObject({ httpMethod: "*", runAsSystem: false, runAsUserId: "user-2", canEvaluate: false });
  });

  it("accepts verification_method as an alias of validation_method and checks the secret (C32, C34)", async () => {
    const dir = await makeApp({
      ...ROOT,
      ...fns,
      "secrets.json": { qsecret: "Super5ecr3tPa55w0rd", sig: "12345" },
      "http_endpoints/config.json": [
        { route: "/q", http_method: "GET", function_name: "sysFn", verification_method: "SECRET_AS_QUERY_PARAM", secret_name: "qsecret" },
        { route: "/p", http_method: "POST", function_name: "sysFn", validation_method: "VERIFY_PAYLOAD", secret_name: "sig" },
      ],
    });
    const app = await loadApp(dir);
    expect(app.endpoints.map((e) => [e.validationMethod, e.secretName])).toEqual([
      ["SECRET_AS_QUERY_PARAM", "qsecret"],
      ["VERIFY_PAYLOAD", "sig"],
    ]);
    expect(app.warnings).toEqual([]);
  });

  it("reads https_endpoints/ (newer exports), preferring it over http_endpoints/ with a warning", async () => {
    const dir = await makeApp({
      ...ROOT,
      ...fns,
      "https_endpoints/config.json": [{ route: "/new", http_method: "GET", function_name: "sysFn" }],
      "http_endpoints/config.json": [{ route: "/old", http_method: "GET", function_name: "sysFn" }],
    });
    const app = await loadApp(dir);
    expect(app.endpoints.map((e) => e.route)).toEqual(["/new"]);
    expect(app.warnings).toEqual([{ file: "http_endpoints/config.json", message: "ignored: https_endpoints/config.json takes precedence" }]);
  });

  it("validates method/route combinations (C3, C4)", async () => {
    const dir = await makeApp({
      ...ROOT,
      ...fns,
      "http_endpoints/config.json": [
        { route: "/a", http_method: "GET", function_name: "sysFn" },
        { route: "/a", http_method: "POST", function_name: "sysFn" },
        { route: "/a", http_method: "GET", function_name: "sysFn" },
        { route: "/b", http_method: "*", function_name: "sysFn" },
        { route: "/b", http_method: "PUT", function_name: "sysFn" },
      ],
    });
    const err = await loadFailing(dir);
    expect(problemAt(err.problems, "http_endpoints/config.json", "[2].route").message).toBe("duplicate endpoint GET /a (also at [0].http_method)");
    expect(problemAt(err.problems, "http_endpoints/config.json", "[4].http_method").message).toBe('route /b has both "*" and a specific method (PUT at [3].http_method)');
    expect(err.problems).toHaveLength(2);
  });
});

describe("Data API config", () => {
  it("reads http_endpoints/data_api_config.json with its defaults", async () => {
    const dir = await makeApp({
      ...ROOT,
      "secrets.json": { dataSecret: "x" },
      "http_endpoints/data_api_config.json": {
        disabled: false,
        versions: ["v1"],
        return_type: "EJSON",
        create_user_on_auth: true,
        run_as_user_id: "u-1",
        can_evaluate: { "%%true": true },
        validation_method: "VERIFY_PAYLOAD",
        secret_name: "dataSecret",
        fetch_custom_user_data: true,
        log_function_arguments: true,
      },
    });
    expect((await loadApp(dir)).dataApi).toEqual({
      disabled: false,
      versions: ["v1"],
      returnType: "EJSON",
      createUserOnAuth: true,
      runAsUserId: "u-1",
      canEvaluate: { "%%true": true },
      validationMethod: "VERIFY_PAYLOAD",
      secretName: "dataSecret",
      fetchCustomUserData: true,
    });
    const minimal = await makeApp({ ...ROOT, "http_endpoints/data_api_config.json": { disabled: true } });
    expect((await loadApp(minimal)).dataApi).toEqual({
      disabled: true,
      versions: ["v1"],
      returnType: "JSON",
      createUserOnAuth: false,
      validationMethod: "NO_VALIDATION",
      fetchCustomUserData: false,
    });
    expect((await loadApp(await makeApp(ROOT))).dataApi).toBeUndefined();
  });
});
