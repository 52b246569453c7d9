/**
 * Role selection and per-document permissions (spec §7): the first role in array order whose apply_when
 * holds decides; document_filters, document-level read/write, then field-level fields/additional_fields.
 */
import { bsonEquals, dependsOnDocument, evaluate, ExpressionError, isPlainObject, type ExpressionContext } from "@restitch/expressions";
import { DataServiceError } from "../errors.js";
import type { Document } from "../types.js";
import type { FieldPermission, Permission, RoleDef } from "./types.js";

type Path = string[];
type DocContext = Pick<ExpressionContext, "root" | "prevRoot">;

export class Permissions {
  /** apply_when results that do not depend on the document, evaluated once per operation. */
  private readonly fixed = new Map<RoleDef, Promise<boolean>>();

  constructor(
    private readonly roles: RoleDef[],
    private readonly base: ExpressionContext,
    private readonly ns: string,
  ) {}

  /** Evaluates one permission; malformed rules become a DataServiceError naming the namespace and rule. */
  async check(expression: Permission, doc: DocContext & { this?: unknown }, what: string, fallback: boolean): Promise<boolean> {
    if (expression === undefined) return fallback;
    if (typeof expression === "boolean") return expression;
    try {
      return await evaluate(expression, { ...this.base, ...doc });
    } catch (e) {
      if (e instanceof ExpressionError) throw new DataServiceError("Internal", `rules for '${this.ns}': ${what}: ${e.message}`, { cause: e });
      throw e;
    }
  }

  private applies(role: RoleDef, doc: DocContext): Promise<boolean> {
    const what = `role '${role.name}' apply_when`;
    if (dependsOnDocument(role.apply_when)) return this.check(role.apply_when, doc, what, true);
    let result = this.fixed.get(role);
    if (result === undefined) this.fixed.set(role, (result = this.check(role.apply_when, {}, what, true)));
    return result;
  }

  /** The role deciding for this document (and its pre-image, for writes), or undefined: no access. */
  async roleFor(doc: Document, prev?: Document): Promise<RoleDef | undefined> {
    for (const role of this.roles) if (await this.applies(role, { root: doc, prevRoot: prev })) return role;
    return undefined;
  }

  /**
   * The role that decides for every document, when that is known without looking at any (every role up
   * to the first applicable one has a document-independent apply_when); null: no role applies at all;
   * undefined: it depends on the document.
   */
  async uniformRole(): Promise<RoleDef | null | undefined> {
    for (const role of this.roles) {
      if (dependsOnDocument(role.apply_when)) return undefined;
      if (await this.applies(role, {})) return role;
    }
    return null;
  }

  /** True when `role` grants `kinds` on every document, decidable without reading any. */
  async grantsEverywhere(role: RoleDef, kinds: Array<"read" | "write" | "insert" | "delete">): Promise<boolean> {
    const fixed = async (p: Permission, what: string, fallback: boolean) => !dependsOnDocument(p) && (await this.check(p, {}, `role '${role.name}' ${what}`, fallback));
    const df = role.document_filters;
    for (const kind of kinds) {
      if (kind === "read") {
        const visible = (await fixed(df?.read, "document_filters.read", true)) || (await fixed(df?.write, "document_filters.write", true));
        const all = (role.write !== undefined && (await fixed(role.write, "write", false))) || (role.read !== undefined && (await fixed(role.read, "read", false)));
        if (!visible || !all) return false;
      } else {
        if (!(await fixed(df?.write, "document_filters.write", true))) return false;
        if (role.write === undefined || !(await fixed(role.write, "write", false))) return false;
        if (kind !== "write" && !(await fixed(role[kind], kind, true))) return false;
      }
    }
    return true;
  }

  private async visibleUnder(role: RoleDef, doc: Document): Promise<boolean> {
    const df = role.document_filters;
    const ctx = { root: doc };
    // A read filter that fails still lets the document through when the write filter holds (spec §7).
    return (await this.check(df?.read, ctx, `role '${role.name}' document_filters.read`, true)) || (await this.check(df?.write, ctx, `role '${role.name}' document_filters.write`, true));
  }

  /** Can the caller see this document at all (a role applies and its document filters let it through)? */
  async visible(doc: Document): Promise<boolean> {
    const role = await this.roleFor(doc);
    return role !== undefined && (await this.visibleUnder(role, doc));
  }

  /** The document as the caller may read it (only permitted fields), or undefined when it is hidden. */
  async readView(doc: Document): Promise<Document | undefined> {
    const role = await this.roleFor(doc);
    if (role === undefined || !(await this.visibleUnder(role, doc))) return undefined;
    const ctx = { root: doc };
    // Document-level write implies read; a document-level read, when given, overrides the field rules.
    if (role.write !== undefined && (await this.check(role.write, ctx, `role '${role.name}' write`, false))) return doc;
    if (role.read !== undefined) return (await this.check(role.read, ctx, `role '${role.name}' read`, false)) ? doc : undefined;
    const view = await this.readableFields(doc, role.fields, role.additional_fields, ctx, role.name, "");
    return Object.keys(view).some((k) => k !== "_id") ? view : undefined;
  }

  private async fieldReadable(p: FieldPermission | RoleDef["additional_fields"], value: unknown, ctx: DocContext, where: string): Promise<boolean> {
    const c = { ...ctx, this: value };
    return (await this.check(p?.read, c, `${where}.read`, false)) || (await this.check(p?.write, c, `${where}.write`, false));
  }

  private async readableFields(
    value: Document,
    fields: Record<string, FieldPermission> | undefined,
    additional: RoleDef["additional_fields"] | undefined,
    ctx: DocContext,
    roleName: string,
    prefix: string,
  ): Promise<Document> {
    const out: Document = {};
    for (const [key, v] of Object.entries(value)) {
      if (prefix === "" && key === "_id") {
        out[key] = v; // the _id of a readable document is always returned (see docs/rules.md)
        continue;
      }
      const where = `role '${roleName}' fields.${prefix}${key}`;
      const fp = fields && Object.hasOwn(fields, key) ? fields[key] : undefined;
      if (fp === undefined) {
        // additional_fields covers top-level fields only; nested fields not named are hidden.
        if (prefix === "" && (await this.fieldReadable(additional, v, ctx, `role '${roleName}' additional_fields`))) out[key] = v;
        continue;
      }
      if (await this.fieldReadable(fp, v, ctx, where)) out[key] = v;
      else if (fp.fields !== undefined) {
        const nested = await this.readableNested(v, fp.fields, ctx, roleName, `${prefix}${key}.`);
        if (nested !== undefined) out[key] = nested;
      }
    }
    return out;
  }

  private async readableNested(v: unknown, fields: Record<string, FieldPermission>, ctx: DocContext, roleName: string, prefix: string): Promise<unknown> {
    if (isPlainObject(v)) {
      const sub = await this.readableFields(v, fields, undefined, ctx, roleName, prefix);
      return Object.keys(sub).length > 0 ? sub : undefined;
    }
    if (Array.isArray(v)) {
      const items: unknown[] = [];
      for (const el of v) if (isPlainObject(el)) items.push(await this.readableFields(el, fields, undefined, ctx, roleName, prefix));
      return items;
    }
    return undefined;
  }

  /**
   * May the caller write `changed` (paths) on this document? `doc` is the image the role is chosen for
   * (%%root), `prev` the image before the write (%%prevRoot). Checks document_filters.write, then
   * document-level write, then each changed path against fields / additional_fields.
   */
  async canWrite(role: RoleDef | undefined, doc: Document, prev: Document | undefined, changed: Path[]): Promise<boolean> {
    if (role === undefined) return false;
    const ctx = { root: doc, prevRoot: prev };
    if (!(await this.check(role.document_filters?.write, ctx, `role '${role.name}' document_filters.write`, true))) return false;
    if (role.write !== undefined) return this.check(role.write, ctx, `role '${role.name}' write`, false);
    for (const path of changed) {
      if (!(await this.pathWritable(path, role.fields, role.additional_fields, ctx, role.name, doc, prev))) return false;
    }
    return true;
  }

  private async pathWritable(
    path: Path,
    fields: Record<string, FieldPermission> | undefined,
    additional: RoleDef["additional_fields"] | undefined,
    ctx: DocContext,
    roleName: string,
    here: unknown,
    before: unknown,
    prefix = "",
  ): Promise<boolean> {
    const [key, ...rest] = path as [string, ...string[]];
    const value = isPlainObject(here) ? here[key] : undefined;
    const old = isPlainObject(before) ? before[key] : undefined;
    const c = { ...ctx, this: value, prev: old };
    const fp = fields && Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (fp === undefined) return additional !== undefined && (await this.check(additional.write, c, `role '${roleName}' additional_fields.write`, false));
    if (await this.check(fp.write, c, `role '${roleName}' fields.${prefix}${key}.write`, false)) return true;
    if (rest.length > 0 && fp.fields !== undefined) return this.pathWritable(rest, fp.fields, undefined, ctx, roleName, value, old, `${prefix}${key}.`);
    return false;
  }

  /** Permission of a document-level kind (insert, delete, search); defaults to true (spec §7). */
  allows(role: RoleDef, kind: "insert" | "delete" | "search", doc: Document): Promise<boolean> {
    return this.check(role[kind], { root: doc }, `role '${role.name}' ${kind}`, true);
  }
}

function same(a: unknown, b: unknown): boolean {
  return (a === undefined && b === undefined) || bsonEquals(a, b);
}

/**
 * The paths a write changes, from the images before and after. Descends into a field only where the
 * role names nested `fields` for it, so each path is as deep as a permission can be.
 */
export function changedPaths(before: Document, after: Document, role: RoleDef | undefined): Path[] {
  const out: Path[] = [];
  const walk = (a: Document, b: Document, fields: Record<string, FieldPermission> | undefined, prefix: Path) => {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (prefix.length === 0 && key === "_id") continue; // immutable; identifies the document
      if (same(a[key], b[key])) continue;
      const nested = fields && Object.hasOwn(fields, key) ? fields[key]?.fields : undefined;
      const x = a[key] ?? {};
      const y = b[key] ?? {};
      if (nested !== undefined && isPlainObject(x) && isPlainObject(y)) {
        const before = out.length;
        walk(x, y, nested, [...prefix, key]);
        if (out.length > before) continue;
      }
      out.push([...prefix, key]);
    }
  };
  walk(before, after, role?.fields, []);
  return out;
}
