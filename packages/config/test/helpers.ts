import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect } from "vitest";
import { AppConfigError, loadApp, type ConfigProblem } from "../src/index.js";

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.map((d) => rm(d, { recursive: true, force: true })));
});

/** Writes an app directory; strings are written as-is (so broken JSON can be tested), anything else as JSON. */
export async function makeApp(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "restitch-config-"));
  made.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(dir, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

export const ROOT = { "realm_config.json": { app_id: "test-abcde", name: "test", config_version: 20210101 } };

/** Loads an app that must be invalid and returns its AppConfigError. */
export async function loadFailing(dir: string, options?: { secretsFile?: string }): Promise<AppConfigError> {
  const err = await loadApp(dir, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppConfigError);
  return err as AppConfigError;
}

/** The one problem for `file` (and `field` if given); fails the test when there is not exactly one. */
export function problemAt(problems: ConfigProblem[], file: string, field?: string): ConfigProblem {
  const hits = problems.filter((p) => p.file === file && (field === undefined || p.field === field));
  expect(hits, `problems at ${file} ${field ?? ""}: ${JSON.stringify(problems, null, 1)}`).toHaveLength(1);
  return hits[0]!;
}
