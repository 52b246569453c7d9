import type { LoadContext } from "./context.js";

export interface ServiceDir {
  /** Directory relative to the app dir. */
  dir: string;
  name: string;
  type: string | undefined;
  config: Record<string, unknown>;
  /** realm-cli v1 services/<svc> layout (rules as rules/<db>.<coll>.json). */
  legacy: boolean;
}

export const MONGODB_TYPES = new Set(["mongodb-atlas", "mongodb", "datalake", "mongodb-datalake"]);

/**
 * Reads <dir>/config.json of a service directory: { name, type, config, version? }.
 * Used for data_sources/<svc>, http_endpoints/<Svc> and the legacy services/<svc>.
 */
export async function readServiceDir(ctx: LoadContext, dir: string, legacy: boolean): Promise<ServiceDir | undefined> {
  const file = `${dir}/config.json`;
  const base = dir.slice(dir.lastIndexOf("/") + 1);
  const f = (await ctx.readFields(file, { missing: "missing service configuration file" }))?.accept("id", "version", "secret_config");
  if (!f) return undefined;
  const name = f.string("name") ?? base;
  if (name !== base) f.warn("name", `service name "${name}" differs from its directory "${base}"; "${name}" is used`);
  const type = f.requiredString("type");
  const config = f.object("config") ?? {};
  f.finish();
  return { dir, name, type, config, legacy };
}

/** The legacy realm-cli v1 services/<svc>/ directories. */
export async function readLegacyServices(ctx: LoadContext): Promise<ServiceDir[]> {
  const out: ServiceDir[] = [];
  for (const e of await ctx.list("services")) {
    if (!e.dir) continue;
    const svc = await readServiceDir(ctx, `services/${e.name}`, true);
    if (svc) out.push(svc);
  }
  return out;
}
