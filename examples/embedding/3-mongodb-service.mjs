// The mongodb-atlas service without HTTP: the embedded store (SQLite + mingo; in memory here), its guest
// client, and bindings with and without rules.
// node --no-node-snapshot examples/embedding/3-mongodb-service.mjs
import { createEmbeddedDataService, createRulesEngine, createServiceBinding, mongodbGuestClient, MONGODB_SERVICE_TYPE } from "@restitch/mongodb";
import { createRuntime } from "@restitch/runtime";

// createDriverDataService({ name, uri }) is the same thing on a real MongoDB.
const service = await createEmbeddedDataService({ name: "mongodb-atlas" }); // add dataDir: "./data" to keep it
const runtime = createRuntime({ serviceClients: { [MONGODB_SERVICE_TYPE]: mongodbGuestClient } });
const app = runtime.app({
  id: "data-demo",
  functions: {
    addNote: {
      source: `exports = async (text) => {
        const notes = context.services.get("mongodb-atlas").db("demo").collection("notes");
        const { insertedId } = await notes.insertOne({ text, at: new Date(0) });
        return insertedId instanceof BSON.ObjectId;
      };`,
    },
    countNotes: { source: `exports = () => context.services.get("mongodb-atlas").db("demo").collection("notes").count({});` },
  },
});

// Rules as data_sources/<svc>/<db>/<coll>/rules.json has them: here anyone may read, nobody may insert.
const rules = createRulesEngine({
  name: "mongodb-atlas",
  rules: new Map([["demo.notes", { database: "demo", collection: "notes", filters: [], roles: [{ name: "reader", apply_when: {}, read: true, insert: false }] }]]),
});
const asSystem = { services: { "mongodb-atlas": createServiceBinding(service, { system: true }) } };
const user = { id: "u1", type: "normal", data: {}, identities: [], custom_data: {} };
const asUser = { user, services: { "mongodb-atlas": createServiceBinding(service, { system: false, user }, { rules }) } };

console.log("system insert:", (await app.call({ functionName: "addNote", args: ["hello"], bridge: asSystem })).value);
const denied = await app.call({ functionName: "addNote", args: ["nope"], bridge: asUser });
console.log("user insert:", denied.ok, denied.error.message);
console.log("user count:", (await app.call({ functionName: "countNotes", bridge: asUser })).value);
await runtime.close();
await service.close();
