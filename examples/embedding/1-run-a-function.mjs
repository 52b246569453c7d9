// Run App Services function sources in isolates, with no HTTP at all.
// node --no-node-snapshot examples/embedding/1-run-a-function.mjs
import { createRuntime } from "@restitch/runtime";

const runtime = createRuntime({ limits: { wallTimeMs: 2_000 } }); // defaults for every call of every app
const app = runtime.app({
  id: "my-app", // isolates are never shared between two ids
  functions: {
    sum: { source: "exports = (a, b) => a + b;", file: "functions/sum.js" },
    greet: {
      source: `exports = async function (name) {
        console.log("greeting", name);
        const n = await context.functions.execute("sum", 1, 2);
        return \`\${context.values.get("hello")}, \${name} (\${n})\`;
      };`,
      file: "functions/greet.js",
    },
    boom: { source: "exports = () => { throw new Error('kaboom'); };", file: "functions/boom.js" },
    spin: { source: "exports = () => { for (;;) {} };", file: "functions/spin.js" },
  },
});

// A call: the function's name, its arguments, and the bridge behind `context` (all optional).
const result = await app.call({
  functionName: "greet",
  args: ["Ada"],
  bridge: { values: (name) => (name === "hello" ? "Hi" : undefined) },
});
console.log("ok:", result.ok, "value:", result.value, "logs:", result.logs);

// call() never rejects for a fault of the tenant's code: the error comes back in the result.
const failed = await app.call({ functionName: "boom" });
console.log("boom:", failed.error.kind, failed.error.message);

// Limits can be tightened per call; breaking one ends the call (the isolate is replaced), nothing else.
const spun = await app.call({ functionName: "spin", limits: { cpuTimeMs: 50 } });
console.log("spin:", spun.error.kind, spun.error.name);

const stats = app.stats();
console.log("calls:", stats.calls, "queued:", stats.queued, "busy:", stats.busy);
await runtime.close(); // closes every app and disposes its isolates
