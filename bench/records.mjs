// pnpm bench:records — cost of one request's log record (built from a CallLogEntry and written to
// /dev/null), pino's own serialisation next to observe's recordWriter, medians of alternating batches.
import { openSync } from "node:fs";
import { createLogger, createRedactor, logRecord, recordMessage, recordWriter } from "../packages/observe/dist/index.js";

const logger = createLogger({ destination: openSync("/dev/null", "w"), format: "json" });
const redact = createRedactor();
const writeRecord = recordWriter(logger);
const entry = {
  kind: "endpoint",
  requestId: "b1f8c2a0-3c1d-4e2f-9a7b-1234567890ab",
  appId: "bench-abcde",
  method: "GET",
  route: "/hello",
  path: "/app/bench-abcde/endpoint/hello",
  functionName: "hello",
  status: 200,
  ms: 0.4123,
  runMs: 0.21,
  cpuMs: 0.05,
  hostCalls: 0,
  logs: [],
  logsDropped: 0,
};
const ways = {
  "pino logger.info(record, msg)": () => logger.info(logRecord(entry, redact), recordMessage(entry)),
  "recordWriter (one JSON.stringify)": () => writeRecord("info", logRecord(entry, redact), recordMessage(entry)),
};
const N = 200_000;
const RUNS = 7;
const times = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
for (let r = 0; r < RUNS; r++) {
  for (const [name, f] of Object.entries(ways)) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) f();
    times[name].push(Number(process.hrtime.bigint() - t) / N / 1000);
    await new Promise((resolve) => setTimeout(resolve, 60)); // let the batched destination write
  }
}
console.log(`one request record, median of ${RUNS} × ${N} (µs per record):`);
for (const [name, v] of Object.entries(times)) console.log(`  ${name.padEnd(36)} ${v.sort((a, b) => a - b)[RUNS >> 1].toFixed(2)}`);
