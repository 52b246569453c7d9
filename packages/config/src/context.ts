import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { Fields, typeName } from "./fields.js";
import { JsonSyntaxError, parseJson } from "./json.js";
import type { Report } from "./problems.js";

export type JsonResult = { kind: "missing" } | { kind: "invalid" } | { kind: "ok"; value: unknown };

/**
 * What every loader step shares: the app directory, the problem report, file access by paths
 * relative to the app dir ("/"-separated, as they appear in messages), and the loaded secrets.
 */
export class LoadContext {
  secrets = new Map<string, string>();
  /** Where the secrets came from, for messages (relative to the app dir when inside it). */
  secretsFile = "secrets.json";

  constructor(
    readonly dir: string,
    readonly report: Report,
  ) {}

  abs(rel: string): string {
    return path.join(this.dir, ...rel.split("/"));
  }

  async isFile(rel: string): Promise<boolean> {
    return (await statOrUndefined(this.abs(rel)))?.isFile() ?? false;
  }

  async isDir(rel: string): Promise<boolean> {
    return (await statOrUndefined(this.abs(rel)))?.isDirectory() ?? false;
  }

  /** Sorted entry names of a directory (sorted so that results and messages are stable); [] when absent. */
  async list(rel: string): Promise<{ name: string; dir: boolean }[]> {
    try {
      const entries = await readdir(this.abs(rel), { withFileTypes: true });
      return entries.map((e) => ({ name: e.name, dir: e.isDirectory() })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (e) {
      if (isNotFound(e)) return [];
      this.report.problem(rel, undefined, `cannot read directory: ${errorCode(e)}`);
      return [];
    }
  }

  /** File text, or undefined when missing (a read failure other than "missing" is a problem). */
  async readText(rel: string, absPath = this.abs(rel)): Promise<string | undefined> {
    try {
      return await readFile(absPath, "utf8");
    } catch (e) {
      if (!isNotFound(e)) this.report.problem(rel, undefined, `cannot read file: ${errorCode(e)}`);
      return undefined;
    }
  }

  async readJson(rel: string, absPath = this.abs(rel)): Promise<JsonResult> {
    const text = await this.readText(rel, absPath);
    if (text === undefined) return { kind: "missing" };
    try {
      return { kind: "ok", value: parseJson(text) };
    } catch (e) {
      if (!(e instanceof JsonSyntaxError)) throw e;
      this.report.problem(rel, undefined, `invalid JSON at line ${e.line}:${e.column}: ${e.reason}`);
      return { kind: "invalid" };
    }
  }

  /**
   * A config file that must hold one JSON object, as checked Fields; undefined when it is missing
   * (a problem if `missing` says why it is needed), unparsable or not an object.
   */
  async readFields(rel: string, opts: { missing?: string } = {}): Promise<Fields | undefined> {
    const json = await this.readJson(rel);
    if (json.kind === "missing" && opts.missing) this.report.problem(rel, undefined, opts.missing);
    if (json.kind !== "ok") return undefined;
    if (typeof json.value !== "object" || json.value === null || Array.isArray(json.value)) {
      this.report.problem(rel, undefined, `expected a JSON object, got ${typeName(json.value)}`);
      return undefined;
    }
    return new Fields(this.report, rel, json.value as Record<string, unknown>);
  }

  /** Records a problem when a referenced secret is missing. Never looks at or reports the value. */
  checkSecret(file: string, field: string, name: string): void {
    if (!this.secrets.has(name)) this.report.problem(file, field, `secret "${name}" is not defined in the secrets file (${this.secretsFile})`);
  }
}

async function statOrUndefined(p: string) {
  try {
    return await stat(p);
  } catch {
    return undefined;
  }
}

function isNotFound(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function errorCode(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? String(e);
}
