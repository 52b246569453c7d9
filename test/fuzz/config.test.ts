/**
 * Fuzzing config loading (@restitch/config): the example app (examples/hello-app) with random damage —
 * any JSON field set to a random value of any type or removed, whole files replaced by random text,
 * deeply nested or broken JSON, files removed, directories where files belong, stray files added. loadApp
 * returns an AppModel or throws AppConfigError whose every problem names a file; never another exception,
 * never a hang. Settings and how to run more: ./settings.ts.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppConfigError, loadApp } from "../../packages/config/dist/index.js";
import { fuzzParams, fuzzTimeout, ownObject, weirdKey, within } from "./settings.js";

const EXAMPLE = path.resolve(import.meta.dirname, "../../examples/hello-app");

/** Every file of the example app, by path relative to it. */
async function readTree(dir: string, rel = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) for (const [k, v] of await readTree(dir, r)) out.set(k, v);
    else out.set(r, await readFile(path.join(dir, r), "utf8"));
  }
  return out;
}

type JsonPath = (string | number)[];

/** Every node of a parsed JSON value (the root is []), down to 200 levels (deeper files come from "deep"). */
function nodes(value: unknown, at: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(at);
  if (at.length >= 200) return out;
  if (Array.isArray(value)) value.forEach((v, i) => nodes(v, [...at, i], out));
  else if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) nodes(v, [...at, k], out);
  return out;
}

function setAt(root: unknown, at: JsonPath, value: unknown, remove: boolean): unknown {
  if (at.length === 0) return value;
  const parent = at.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], root) as Record<string | number, unknown>;
  const last = at[at.length - 1]!;
  if (remove && Array.isArray(parent)) parent.splice(last as number, 1);
  else if (remove) delete parent[last];
  else Object.defineProperty(parent, last, { value, enumerable: true, writable: true, configurable: true });
  return root;
}

const jsonish: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom("", "%%user.id", "x".repeat(70_000), -1, 0, 1e308, true, null, [], {}, "../../etc/passwd", "GET", "/x/:y", "NO_VALIDATION"),
  fc.array(fc.tuple(weirdKey, fc.jsonValue({ maxDepth: 1 })), { maxLength: 4 }).map(ownObject),
);

const damage = fc.oneof(
  // A field (or an array element, or the whole document) gets a random value of any type, or goes.
  fc.record({ kind: fc.constant("set" as const), file: fc.nat(), node: fc.nat(), value: jsonish, remove: fc.boolean() }),
  // A new field with a weird name.
  fc.record({ kind: fc.constant("add" as const), file: fc.nat(), node: fc.nat(), key: weirdKey, value: jsonish }),
  // The whole file is random text, a truncation of itself, or JSON nested very deep (broken or not).
  fc.record({ kind: fc.constant("text" as const), file: fc.nat(), text: fc.string({ maxLength: 200 }) }),
  fc.record({ kind: fc.constant("truncate" as const), file: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant("deep" as const), file: fc.nat(), depth: fc.integer({ min: 100, max: 200_000 }), closed: fc.boolean() }),
  fc.record({ kind: fc.constant("remove" as const), file: fc.nat() }),
  fc.record({ kind: fc.constant("directory" as const), file: fc.nat() }),
  // A stray file where the loader looks for files.
  fc.record({
    kind: fc.constant("stray" as const),
    dir: fc.constantFrom("functions", "values", "environments", "http_endpoints", "auth", "data_sources/mongodb-atlas", "data_sources/mongodb-atlas/hello", "services", "triggers", ""),
    name: fc.oneof(fc.constantFrom("x.json", "config.json", "x.js", ".json", "rules.json", "schema.json"), fc.string({ minLength: 1, maxLength: 12 }).map((s) => s.replace(/[/\0]/g, "_"))),
    content: fc.oneof(jsonish.map((v) => JSON.stringify(v) ?? "null"), fc.string({ maxLength: 50 })),
  }),
);

type Damage = typeof damage extends fc.Arbitrary<infer T> ? T : never;

function apply(files: Map<string, string | { directory: true }>, d: Damage): void {
  if (d.kind === "stray") {
    const rel = path.join(d.dir, d.name);
    if (rel !== "." && rel !== "" && !rel.split(path.sep).includes("..")) files.set(rel, d.content);
    return;
  }
  const names = [...files.keys()];
  const name = names[d.file % names.length]!;
  const content = files.get(name)!;
  if (typeof content !== "string") return;
  switch (d.kind) {
    case "text":
      return void files.set(name, d.text);
    case "truncate":
      return void files.set(name, content.slice(0, d.at % (content.length + 1)));
    case "deep":
      return void files.set(name, "[".repeat(d.depth) + (d.closed ? "]".repeat(d.depth) : ""));
    case "remove":
      return void files.delete(name);
    case "directory":
      return void files.set(name, { directory: true });
  }
  if (!name.endsWith(".json")) return;
  let doc: unknown;
  try {
    doc = JSON.parse(content);
  } catch {
    return;
  }
  const all = nodes(doc);
  const at = all[d.node % all.length]!;
  if (d.kind === "set") doc = setAt(doc, at, structuredClone(d.value), d.remove && at.length > 0);
  else {
    const target = at.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], doc);
    if (target === null || typeof target !== "object" || Array.isArray(target)) return;
    Object.defineProperty(target, d.key, { value: structuredClone(d.value), enumerable: true, writable: true, configurable: true });
  }
  files.set(name, JSON.stringify(doc, null, 2) ?? "");
}

let base: Map<string, string>;
const made: string[] = [];
beforeAll(async () => {
  base = await readTree(EXAMPLE);
});
afterAll(async () => {
  await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
});

async function writeTree(files: Map<string, string | { directory: true }>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "restitch-fuzz-config-"));
  made.push(dir);
  for (const [rel, content] of files) {
    const abs = path.join(dir, rel);
    try {
      if (typeof content === "string") {
        await mkdir(path.dirname(abs), { recursive: true });
        await writeFile(abs, content);
      } else await mkdir(abs, { recursive: true });
    } catch {
      // A stray name that collides with a directory (or the other way round) is simply not written.
    }
  }
  return dir;
}

describe("fuzz: config loading", () => {
  it("the undamaged example loads (the base the damage starts from)", async () => {
    const app = await loadApp(await writeTree(new Map(base)));
    expect(app.appId).toBe("hello-abcde");
  });

  it(
    "a damaged app gives an AppModel or an AppConfigError naming the file at fault, within 5 s",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(damage, { minLength: 1, maxLength: 4 }), async (damages) => {
          const files = new Map<string, string | { directory: true }>(base);
          for (const d of damages) apply(files, d);
          const dir = await writeTree(files);
          try {
            const app = await within(5_000, "loadApp", () => loadApp(dir));
            expect(typeof app.appId).toBe("string");
          } catch (e) {
            if (!(e instanceof AppConfigError)) throw e;
            expect(e.problems.length).toBeGreaterThan(0);
            for (const p of e.problems) {
              expect(typeof p.file).toBe("string");
              expect(p.file.length).toBeGreaterThan(0);
              expect(typeof p.message).toBe("string");
              expect(p.message.length).toBeGreaterThan(0);
            }
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        }),
        fuzzParams(200),
      );
    },
    fuzzTimeout(60_000, 200),
  );
});
