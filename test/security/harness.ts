/**
 * The adversarial suite's harness: one real server (startServer, real HTTP on 127.0.0.1) serving a
 * "victim" app with data and a secret next to one hostile app per test file. Each case is a small
 * hostile function source with its own endpoint; after every case the harness checks that
 *  - the server still answers and the victim's data, secret and realm are exactly as before;
 *  - no response body, header or log line (call logs and the process console) holds a canary: an
 *    environment variable and a file the harness made, and the victim's secret; nor a host path;
 *  - no file appeared in the process's working directory, its temp directory or the canary directory;
 *  - the host's own prototypes are untouched (prototype pollution through the data service or codec).
 * Tight limits keep the exhaustion cases fast; they apply to the victim too, which never comes near them.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { startServer, type RunningServer, type StartServerOptions } from "restitch";
import { writeApp, type FunctionSpec } from "../helpers/app.js";

type CallLogEntry = Parameters<NonNullable<StartServerOptions["onCall"]>>[0];

/** Per-call limits of every app in the suite's server. */
export const SUITE_LIMITS: NonNullable<NonNullable<StartServerOptions["runtime"]>["limits"]> = {
  wallTimeMs: 1_500,
  cpuTimeMs: 300,
  memoryMb: 64,
  maxHostCalls: 200,
  maxPendingHostCalls: 50,
  maxResultBytes: 1024 * 1024,
  maxLogBytes: 16 * 1024,
  maxCallDepth: 8,
};

/**
 * Bounds of the embedded store's aggregation-expression evaluation for the suite's apps: a bomb's
 * operation ends well inside a call's wall clock, so the attacker sees the store's own error.
 */
export const SUITE_DATA_LIMITS = { operationTimeMs: 400, operationMemoryMb: 128 };

export interface Case {
  /** The `it` title; name the attack and the checklist item (C…) it touches. */
  title: string;
  /** The hostile function file. */
  source: string;
  /** Fields for this case's endpoint (http_method, respond_result, return_type…). */
  endpoint?: Record<string, unknown>;
  /** The request; default GET without a body. */
  request?: RequestInit & { query?: string };
  /** What the answer must be. */
  /** `route` is this case's own endpoint, for cases that call it again. */
  check: (r: Reply, h: Harness, route: string) => void | Promise<void>;
  /** Further functions of the hostile app this case uses (execute targets…). */
  functions?: Record<string, string | FunctionSpec>;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: () => any;
  ms: number;
}

export interface Harness {
  server: RunningServer;
  hostileBase: string;
  victimBase: string;
  /** The values a hostile app must never see. */
  canaries: { env: string; file: string; victimSecret: string };
  /** Call a hostile endpoint; the answer is scanned for canaries after the case. */
  hostile(route: string, init?: RequestInit & { query?: string }): Promise<Reply>;
  /** The victim's state, checked to be exactly as seeded. */
  victimState(): Promise<Reply>;
  /** Call-log entries of the hostile app since the case started. */
  calls(): CallLogEntry[];
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const HOST_PATHS = [REPO_ROOT, "node_modules", "node:internal", "/dist/"];
const VICTIM_ID = "victim-vvvvv";
const VICTIM_NOTES = [
  { _id: 1, text: "first note", owner: "victim" },
  { _id: 2, text: "second note", owner: "victim" },
];

/** An endpoint route for a case title: stable, URL-safe, unique within a file. */
export function routeOf(index: number): string {
  return `/case${index}`;
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/**
 * Starts the suite's server for one test file (hostile app `appId`, one endpoint per case) and registers
 * the before/after hooks; returns the harness the cases use.
 */
export function hostileSuite(appId: string, cases: Case[]): Harness {
  const token = randomBytes(6).toString("hex");
  const canaries = {
    env: `env-canary-${randomBytes(12).toString("hex")}`,
    file: `file-canary-${randomBytes(12).toString("hex")}`,
    victimSecret: `victim-secret-${randomBytes(12).toString("hex")}`,
  };
  const envName = `RESTITCH_CANARY_${token.toUpperCase()}`;
  const scanned: string[] = [];
  const callLog: CallLogEntry[] = [];
  const consoleLines: string[] = [];
  let caseStart = 0;
  let appDirs: string[] = [];
  let workDir = "";
  let canaryDir = "";
  let before: { work: string[]; canary: string[]; env: string[]; protos: string[] } | undefined;
  const saved = { cwd: process.cwd(), tmp: process.env.TMPDIR, console: { log: console.log, warn: console.warn, error: console.error } };

  const h: Harness = {
    server: undefined as unknown as RunningServer,
    hostileBase: "",
    victimBase: "",
    canaries,
    async hostile(route, init = {}) {
      const { query, ...rest } = init;
      const started = performance.now();
      const res = await fetch(`${h.hostileBase}${route}${query ? `?${query}` : ""}`, rest);
      const text = await res.text();
      const reply = { status: res.status, headers: res.headers, text, json: () => JSON.parse(text), ms: performance.now() - started };
      scanned.push(text, ...[...res.headers].map(([k, v]) => `${k}: ${v}`));
      return reply;
    },
    async victimState() {
      const res = await fetch(`${h.victimBase}/state`);
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text), ms: 0 };
    },
    calls: () => callLog.slice(caseStart).filter((c) => c.appId === appId),
  };

  /** Everything of the host a realm probe reports; the victim's must stay the same. */
  const hostProtos = () =>
    [Object.prototype, Array.prototype, Function.prototype, String.prototype, Promise.prototype].map((p) => Object.getOwnPropertyNames(p).sort().join(",")).concat([
      String(({} as Record<string, unknown>).polluted),
    ]);

  beforeAll(async () => {
    // A private working and temp directory for this file's server, so "no file is created" can be
    // checked without racing other test files.
    workDir = await mkdtemp(path.join(tmpdir(), "restitch-sec-work-"));
    canaryDir = await mkdtemp(path.join(tmpdir(), "restitch-sec-canary-"));
    await writeFile(path.join(canaryDir, "canary.txt"), canaries.file);
    await mkdir(path.join(workDir, "tmp"));
    process.env[envName] = canaries.env;

    const functions: Record<string, string | FunctionSpec> = {};
    const endpoints: Record<string, unknown>[] = [];
    cases.forEach((c, i) => {
      functions[`case${i}`] = c.source;
      Object.assign(functions, c.functions);
      endpoints.push({ route: routeOf(i), http_method: "*", function_name: `case${i}`, ...c.endpoint });
    });
    appDirs = [
      await writeApp({
        appId: VICTIM_ID,
        functions: {
          seed: `exports = async function () {
            const notes = context.services.get("mongodb-atlas").db("victimdb").collection("notes");
            await notes.insertMany(${JSON.stringify(VICTIM_NOTES)});
            return "seeded";
          };`,
          state: `exports = async function () {
            const notes = await context.services.get("mongodb-atlas").db("victimdb").collection("notes").find({}).sort({ _id: 1 }).toArray();
            /(victim-secret-\\w+)/.test(context.values.get("victimSecret"));
            return {
              notes,
              secret: utils.crypto.hash("sha256", context.values.get("victimSecret")).toHex(),
              realm: [typeof ({}).polluted, typeof [].polluted, typeof globalThis.leak, typeof leak, [1, 2].map((x) => x * 2).join(), JSON.stringify({ a: 1 }), typeof console.log, String(new BSON.ObjectId("5e58667d902d38559c802b13"))],
            };
          };`,
        },
        endpoints: [
          { route: "/seed", http_method: "POST", function_name: "seed" },
          { route: "/state", http_method: "GET", function_name: "state" },
        ],
        values: { victimSecret: { value: "victimSecret", from_secret: true }, greeting: { value: "victim hello" } },
        secrets: { victimSecret: canaries.victimSecret },
        dataSources: { "mongodb-atlas": {} },
      }),
      await writeApp({
        appId,
        functions,
        endpoints,
        values: { greeting: { value: "hello" } },
        environment: "production",
        environments: { production: { mode: "prod" } },
        dataSources: { "mongodb-atlas": {} },
      }),
    ];

    process.chdir(workDir);
    process.env.TMPDIR = path.join(workDir, "tmp");
    for (const level of ["log", "warn", "error"] as const) {
      const original = saved.console[level];
      console[level] = (...args: unknown[]) => {
        consoleLines.push(args.map((a) => (a instanceof Error ? `${a.stack}` : typeof a === "string" ? a : JSON.stringify(a))).join(" "));
        original(...args);
      };
    }
    h.server = await startServer({
      appDir: appDirs,
      port: 0,
      host: "127.0.0.1",
      runtime: { limits: SUITE_LIMITS },
      embedded: SUITE_DATA_LIMITS,
      onCall: (entry) => callLog.push(entry),
    });
    h.hostileBase = `${h.server.url}/app/${appId}/endpoint`;
    h.victimBase = `${h.server.url}/app/${VICTIM_ID}/endpoint`;
    const seeded = await fetch(`${h.victimBase}/seed`, { method: "POST" });
    expect(await seeded.json()).toBe("seeded");
    before = { work: await listing(workDir), canary: await listing(canaryDir), env: Object.keys(process.env).sort(), protos: hostProtos() };
  });

  afterEach(async () => {
    // The server still answers, and the victim's data, secret and realm are exactly as seeded.
    const state = await h.victimState();
    expect(state.status).toBe(200);
    expect(state.json()).toEqual({
      notes: VICTIM_NOTES,
      secret: createHash("sha256").update(canaries.victimSecret).digest("hex"),
      realm: ["undefined", "undefined", "undefined", "undefined", "2,4", '{"a":1}', "function", "5e58667d902d38559c802b13"],
    });
    // Nothing of the host reached a response, a call log or the console.
    const logs = callLog.slice(caseStart).flatMap((c) => [...c.logs, c.error?.message ?? "", c.error?.stack ?? ""]);
    for (const text of [...scanned, ...logs, ...consoleLines]) {
      for (const secret of Object.values(canaries)) expect(text).not.toContain(secret);
    }
    for (const text of [...scanned, ...logs]) for (const p of HOST_PATHS) expect(text).not.toContain(p);
    // No file appeared, the canary file is intact, no variable joined the environment, host prototypes unchanged.
    expect(await listing(workDir)).toEqual(before!.work);
    expect(await listing(canaryDir)).toEqual(before!.canary);
    expect(await readFile(path.join(canaryDir, "canary.txt"), "utf8")).toBe(canaries.file);
    expect(Object.keys(process.env).sort()).toEqual(before!.env);
    expect(hostProtos()).toEqual(before!.protos);
    scanned.length = 0;
    consoleLines.length = 0;
    caseStart = callLog.length;
  });

  afterAll(async () => {
    await h.server?.close();
    process.chdir(saved.cwd);
    if (saved.tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved.tmp;
    delete process.env[envName];
    Object.assign(console, saved.console);
    for (const d of [...appDirs, workDir, canaryDir]) if (d) await rm(d, { recursive: true, force: true });
  });

  return h;
}

/** The JSON error every failed call answers with (C63, C148, C150). */
export function expectError(r: Reply, status: number, code: string, message?: string | RegExp): void {
  expect(r.status).toBe(status);
  const body = r.json();
  expect(body.error_code).toBe(code);
  if (message instanceof RegExp) expect(body.error).toMatch(message);
  else if (message !== undefined) expect(body.error).toBe(message);
}

/** A 200 JSON answer with exactly this value. */
export function expectValue(r: Reply, value: unknown): void {
  expect([r.status, r.json()]).toEqual([200, value]);
}

export const TIME_LIMIT = "execution time limit exceeded";
const MEMORY = `memory limit exceeded (${SUITE_LIMITS.memoryMb} MB)`;

/**
 * A bomb ends with the memory error (or, for array buffers, the allocator's refusal); near its heap limit
 * V8 collects garbage again and again and may spend the CPU budget first on a loaded machine.
 */
export function expectMemoryOrTime(r: Reply, memoryError = MEMORY): void {
  expect(r.status, r.text).toBe(400);
  expect([
    { error: memoryError, error_code: "FunctionExecutionError" },
    { error: TIME_LIMIT, error_code: "ExecutionTimeLimitExceeded" },
  ]).toContainEqual(r.json());
}

/** One `it` per case, in table order (each case's endpoint is routeOf(its index)). */
export function defineCases(h: Harness, cases: Case[]): void {
  cases.forEach((c, i) => {
    it(c.title, async () => {
      const r = await h.hostile(routeOf(i), c.request);
      await c.check(r, h, routeOf(i));
    });
  });
}
