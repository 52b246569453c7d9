import { describe, expect, it } from "vitest";
import { loadApp } from "../src/index.js";
import { loadFailing, makeApp, problemAt, ROOT } from "./helpers.js";

const ATLAS = { name: "mongodb-atlas", type: "mongodb-atlas", config: { clusterName: "Cluster0", readPreference: "primary", wireProtocolEnabled: false } };
const OWNER_ROLE = {
  name: "owner",
  apply_when: { owner_id: "%%user.id" },
  document_filters: { read: true, write: { owner_id: "%%user.id" } },
  insert: true,
  delete: false,
  search: true,
  fields: { secret: { read: false, write: false }, profile: { read: true, fields: { email: { read: false } } } },
  additional_fields: { read: true, write: false },
};

describe("data sources and rules", () => {
  it("reads config, per-collection rules.json and default_rule.json (C131-C138 inputs)", async () => {
    const dir = await makeApp({
      ...ROOT,
      "data_sources/mongodb-atlas/config.json": ATLAS,
      "data_sources/mongodb-atlas/shop/orders/rules.json": {
        database: "shop",
        collection: "orders",
        roles: [OWNER_ROLE, { name: "readAll", apply_when: {}, read: true, write: false }],
        filters: [{ name: "mine", apply_when: { "%%true": true }, query: { owner_id: "%%user.id" }, projection: { _internal: 0 } }],
      },
      "data_sources/mongodb-atlas/shop/orders/schema.json": { properties: {} },
      "data_sources/mongodb-atlas/shop/items/schema.json": { properties: {} },
      "data_sources/mongodb-atlas/default_rule.json": { roles: [{ name: "readAndWriteAll", apply_when: {}, read: true, write: true }], filters: [] },
    });
    const app = await loadApp(dir);
    expect(app.dataSources).toHaveLength(1);
    const ds = app.dataSources[0]!;
    expect(ds).toMatchObject({ name: "mongodb-atlas", type: "mongodb-atlas", config: ATLAS.config, dir: "data_sources/mongodb-atlas" });
    expect([...ds.rules.keys()]).toEqual(["shop.orders"]);
    const rules = ds.rules.get("shop.orders")!;
    expect(rules.roles).toEqual([OWNER_ROLE, { name: "readAll", apply_when: {}, read: true, write: false }]);
    expect(rules.filters).toEqual([{ name: "mine", apply_when: { "%%true": true }, query: { owner_id: "%%user.id" }, projection: { _internal: 0 } }]);
    expect(ds.defaultRule).toEqual({ roles: [{ name: "readAndWriteAll", apply_when: {}, read: true, write: true }], filters: [] });
    expect(app.warnings).toEqual([]);
  });

  it("reports a data source without type, mismatched rules paths and mistyped role fields", async () => {
    const dir = await makeApp({
      ...ROOT,
      "data_sources/untyped/config.json": { name: "untyped", config: {} },
      "data_sources/mongodb-atlas/config.json": ATLAS,
      "data_sources/mongodb-atlas/shop/orders/rules.json": { database: "shop", collection: "order", roles: [] },
      "data_sources/mongodb-atlas/shop/users/rules.json": { database: "shop", collection: "users", roles: [{ name: "r", insert: "yes", fields: { a: { read: 1 } } }], filters: "none" },
    });
    const err = await loadFailing(dir);
    expect(problemAt(err.problems, "data_sources/untyped/config.json", "type").message).toBe("is required");
    expect(problemAt(err.problems, "data_sources/mongodb-atlas/shop/orders/rules.json", "collection").message).toBe('"order" does not match the directory "orders"');
    const users = "data_sources/mongodb-atlas/shop/users/rules.json";
    expect(problemAt(err.problems, users, "roles[0].insert").message).toBe("expected an expression (a boolean or an object), got a string");
    expect(problemAt(err.problems, users, "roles[0].fields.a.read").message).toBe("expected an expression (a boolean or an object), got a number");
    expect(problemAt(err.problems, users, "filters").message).toBe("expected an array, got a string");
    expect(err.problems).toHaveLength(5);
  });
});

describe("auth", () => {
  it("reads auth/providers.json with metadata fields and checks secret_config against the secrets", async () => {
    const dir = await makeApp({
      ...ROOT,
      "secrets.json": { jwtKey: "k".repeat(32) },
      "auth/providers.json": {
        "anon-user": { name: "anon-user", type: "anon-user", disabled: false },
        "local-userpass": { name: "local-userpass", type: "local-userpass", disabled: true, config: { autoConfirm: true, resetFunctionName: "reset", runResetFunction: true } },
        "custom-token": {
          name: "custom-token",
          type: "custom-token",
          disabled: false,
          config: { audience: [], requireAnyAudience: false, signingAlgorithm: "HS256", useJWKURI: false },
          secret_config: { signingKeys: ["jwtKey"] },
          metadata_fields: [
            { required: true, name: "user_data.name", field_name: "name" },
            { required: false, name: "org\\.unit.title" },
          ],
        },
      },
    });
    const { authProviders } = await loadApp(dir);
    expect(Object.keys(authProviders)).toEqual(["anon-user", "local-userpass", "custom-token"]);
    expect(authProviders["anon-user"]).toEqual({ name: "anon-user", type: "anon-user", disabled: false, config: {}, secretConfig: {}, metadataFields: [] });
    expect(authProviders["local-userpass"]).toMatchObject({ disabled: true, config: { autoConfirm: true } });
    expect(authProviders["custom-token"]).toMatchObject({
      secretConfig: { signingKeys: ["jwtKey"] },
      metadataFields: [
        { required: true, name: "user_data.name", fieldName: "name" },
        { required: false, name: "org\\.unit.title", fieldName: "title" },
      ],
    });

    const broken = await makeApp({ ...ROOT, "auth/providers.json": { jwt: { name: "jwt", type: "custom-token", secret_config: { signingKeys: ["absent"] } }, x: { type: "oauth2-github" } } });
    const err = await loadFailing(broken);
    expect(problemAt(err.problems, "auth/providers.json", "jwt.secret_config.signingKeys").message).toBe('secret "absent" is not defined in the secrets file (secrets.json)');
    expect(problemAt(err.problems, "auth/providers.json", "x.type").message).toMatch(/^unknown value "oauth2-github"; expected one of "anon-user", /);
  });

  it("reads legacy auth_providers/*.json", async () => {
    const dir = await makeApp({ "config.json": { app_id: "legacy-1", name: "legacy" }, "auth_providers/api-key.json": { id: "5f0", name: "api-key", type: "api-key", disabled: false } });
    expect((await loadApp(dir)).authProviders["api-key"]).toMatchObject({ type: "api-key", disabled: false });
  });

  it("reads auth/custom_user_data.json and checks its data source and function (C56 inputs)", async () => {
    const cud = { enabled: true, mongo_service_name: "mongodb-atlas", database_name: "app", collection_name: "users", user_id_field: "user_id", on_user_creation_function_name: "onCreate" };
    const dir = await makeApp({
      ...ROOT,
      "data_sources/mongodb-atlas/config.json": ATLAS,
      "functions/onCreate.js": "exports = function (user) {};",
      "auth/custom_user_data.json": cud,
    });
    expect((await loadApp(dir)).customUserData).toEqual({
      enabled: true,
      mongoServiceName: "mongodb-atlas",
      databaseName: "app",
      collectionName: "users",
      userIdField: "user_id",
      onUserCreationFunctionName: "onCreate",
    });
    const broken = await makeApp({ ...ROOT, "auth/custom_user_data.json": { ...cud, user_id_field: undefined } });
    const err = await loadFailing(broken);
    expect(err.problems.map((p) => `${p.field}: ${p.message}`).sort()).toEqual([
      'mongo_service_name: data source "mongodb-atlas" does not exist',
      'on_user_creation_function_name: function "onCreate" does not exist',
      "user_id_field: is required",
    ]);
  });
});
