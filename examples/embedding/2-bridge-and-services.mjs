// Everything behind `context` comes from the host, per call: user, values, environment, and services.
// node --no-node-snapshot examples/embedding/2-bridge-and-services.mjs
import { createRuntime } from "@restitch/runtime";

// A service is two halves. In the isolate, a client built once per isolate from this source; it can only
// call `invoke(method, args)`, which reaches the host. On the host, a binding per call.
const kvClient = `(function (invoke, BSON) {
  return { get: (key) => invoke("get", [key]), set: (key, value) => invoke("set", [key, value]) };
})`;
const runtime = createRuntime({ serviceClients: { kv: kvClient } });

const store = new Map();
/** The host decides who the call runs as when it creates the binding; nothing the guest sends changes it. */
function kvBinding(userId) {
  return {
    type: "kv",
    async invoke(method, [key, value]) {
      const k = `${userId}:${key}`;
      if (method === "get") return store.get(k) ?? null;
      if (method === "set") return void store.set(k, value);
      throw new Error(`kv has no method ${method}`);
    },
  };
}

const app = runtime.app({
  id: "bridge-demo",
  functions: {
    visit: {
      source: `exports = async function () {
        const kv = context.services.get("kv");
        const visits = ((await kv.get("visits")) ?? 0) + 1;
        await kv.set("visits", visits);
        return { user: context.user.id, system: context.runningAsSystem(), env: context.environment.tag, visits };
      };`,
    },
    internal: { source: "exports = () => 'secret stuff';" },
    callsInternal: { source: "exports = () => context.functions.execute('internal');" },
  },
});

const bridgeFor = (userId) => ({
  user: { id: userId, type: "normal", data: {}, identities: [], custom_data: {} },
  runningAsSystem: false,
  environment: { tag: "production", values: {} },
  services: { kv: kvBinding(userId) },
  // Asked before context.functions.execute runs another function; a throw refuses it.
  canExecute: (name) => {
    if (name === "internal") throw new Error(`function '${name}' is private`);
  },
});

console.log((await app.call({ functionName: "visit", bridge: bridgeFor("ada") })).value);
console.log((await app.call({ functionName: "visit", bridge: bridgeFor("ada") })).value);
console.log((await app.call({ functionName: "visit", bridge: bridgeFor("bob") })).value);
const refused = await app.call({ functionName: "callsInternal", bridge: bridgeFor("ada") });
console.log("refused:", refused.error.message);
await runtime.close();
