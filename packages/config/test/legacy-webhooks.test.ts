import { describe, expect, it } from "vitest";
import { loadApp } from "../src/index.js";
import { loadFailing, makeApp, problemAt, ROOT } from "./helpers.js";

const HOOK_SRC = "exports = async function (payload, response) { return { Processed: 900 }; };";

describe("legacy HTTP services (http_endpoints/<Service>/)", () => {
  it("reads service rules and incoming webhooks; no run-as setting means system (C66, C69 inputs)", async () => {
    const dir = await makeApp({
      ...ROOT,
      "http_endpoints/MyHttp/config.json": { name: "MyHttp", type: "http", config: {} },
      "http_endpoints/MyHttp/rules/allowGet.json": { name: "allowGet", actions: ["get", "post"], when: { "%%args.url.host": "example.com" } },
      "http_endpoints/MyHttp/incoming_webhooks/hook/config.json": {
        name: "hook",
        can_evaluate: {},
        respond_result: true,
        options: { httpMethod: "POST", validationMethod: "VERIFY_PAYLOAD", secret: "12345" },
      },
      "http_endpoints/MyHttp/incoming_webhooks/hook/source.js": HOOK_SRC,
      "http_endpoints/MyHttp/incoming_webhooks/authed/config.json": {
        name: "authed",
        run_as_authed_user: true,
        fetch_custom_user_data: true,
        create_user_on_auth: true,
        options: { httpMethod: "ANY", validationMethod: "SECRET_AS_QUERY_PARAM", secret: "s" },
      },
      "http_endpoints/MyHttp/incoming_webhooks/authed/source.js": HOOK_SRC,
    });
    const app = await loadApp(dir);
    expect(app.httpServices).toHaveLength(1);
    const svc = app.httpServices[0]!;
    expect(svc.name).toBe("MyHttp");
    expect(svc.rules).toEqual([{ name: "allowGet", actions: ["get", "post"], when: { "%%args.url.host": "example.com" } }]);
    const byName = Object.fromEntries(svc.webhooks.map((w) => [w.name, w]));
    expect(byName.hook).toEqual({
      service: "MyHttp",
      name: "hook",
      source: HOOK_SRC,
      file: "http_endpoints/MyHttp/incoming_webhooks/hook/source.js",
      canEvaluate: {},
      runAsSystem: true,
      runAsAuthedUser: false,
      fetchCustomUserData: false,
      createUserOnAuth: false,
      respondResult: true,
      httpMethod: "POST",
      validationMethod: "VERIFY_PAYLOAD",
      secret: "12345",
    });
    expect(byName.authed).toMatchObject({ runAsAuthedUser: true, fetchCustomUserData: true, createUserOnAuth: true, httpMethod: "ANY", validationMethod: "SECRET_AS_QUERY_PARAM" });
    expect(byName.authed!.runAsSystem).toBeUndefined();
    expect(app.warnings).toEqual([]);
  });

  it("reports a webhook without source.js, a validation method without secret and conflicting run-as settings", async () => {
    const dir = await makeApp({
      ...ROOT,
      "http_endpoints/Svc/config.json": { name: "Svc", type: "http", config: {} },
      "http_endpoints/Svc/incoming_webhooks/nosrc/config.json": { name: "nosrc", options: { httpMethod: "GET", validationMethod: "NO_VALIDATION" } },
      "http_endpoints/Svc/incoming_webhooks/bad/config.json": { name: "bad", run_as_authed_user: true, run_as_user_id: "u", options: { httpMethod: "FETCH", validationMethod: "VERIFY_PAYLOAD" } },
      "http_endpoints/Svc/incoming_webhooks/bad/source.js": HOOK_SRC,
    });
    const err = await loadFailing(dir);
    const bad = "http_endpoints/Svc/incoming_webhooks/bad/config.json";
    expect(problemAt(err.problems, "http_endpoints/Svc/incoming_webhooks/nosrc/source.js").message).toBe('webhook "nosrc" has no source.js');
    expect(problemAt(err.problems, bad, "run_as_authed_user").message).toBe("cannot be used together with run_as_user_id or run_as_user_id_script_source");
    expect(problemAt(err.problems, bad, "options.httpMethod").message).toMatch(/^unknown value "FETCH"; expected one of "GET", "POST"/);
    expect(problemAt(err.problems, bad, "options.secret").message).toBe("a secret is required when validationMethod is VERIFY_PAYLOAD");
    expect(err.problems).toHaveLength(4);
  });
});

describe("realm-cli v1 apps (config.json, services/)", () => {
  it("reads services/ of type mongodb-atlas as data sources (rules/<db>.<coll>.json) and others as webhook services", async () => {
    const dir = await makeApp({
      "config.json": {
        app_id: "v1-app",
        name: "v1",
        config_version: 20180301,
        custom_user_data_config: { enabled: true, mongo_service_name: "mongodb-atlas", database_name: "d", collection_name: "c", user_id_field: "uid" },
      },
      "services/mongodb-atlas/config.json": { id: "1", name: "mongodb-atlas", type: "mongodb-atlas", config: { clusterName: "C" } },
      "services/mongodb-atlas/rules/shop.items.json": { id: "2", database: "shop", collection: "items", roles: [{ name: "all", apply_when: {}, read: true }], filters: [], schema: {} },
      "services/github/config.json": { name: "github", type: "github", config: {} },
      "services/github/incoming_webhooks/push/config.json": { name: "push", respond_result: true, options: { httpMethod: "POST", validationMethod: "NO_VALIDATION" } },
      "services/github/incoming_webhooks/push/source.js": HOOK_SRC,
      "functions/f/source.js": "exports = () => 1;",
    });
    const app = await loadApp(dir);
    expect(app.dataSources.map((d) => [d.name, d.dir, [...d.rules.keys()]])).toEqual([["mongodb-atlas", "services/mongodb-atlas", ["shop.items"]]]);
    expect(app.httpServices.map((s) => [s.name, s.webhooks.map((w) => w.name)])).toEqual([["github", ["push"]]]);
    expect(app.customUserData).toMatchObject({ enabled: true, mongoServiceName: "mongodb-atlas", userIdField: "uid" });
    expect([...app.functions.keys()]).toEqual(["f"]);
    expect(app.warnings).toEqual([{ file: "services/github/config.json", field: "type", message: 'service type "github" is not emulated; only its incoming webhooks are served' }]);
  });
});
