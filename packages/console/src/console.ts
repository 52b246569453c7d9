/**
 * The console as a Hono app whose routes all live under CONSOLE_PATH (mount it with
 * `server.hono.route("/", createConsole(…))`): a static page (HTML + one script + one
 * stylesheet, no external assets) and a small JSON API, all behind the token.
 */
import { readFileSync } from "node:fs";
import type { AppModel } from "@restitch/config";
import { Hono, type Context } from "hono";
import { appSummary } from "./endpoints.js";
import type { Run, RunLog } from "./runs.js";
import { tokenChecker } from "./token.js";

export const CONSOLE_PATH = "/_restitch";
const COOKIE = "restitch_console";

export interface ConsoleOptions {
  apps: AppModel[];
  /** Where recent runs are read from (the caller fills it). */
  runs: RunLog;
  token: string;
  /** Facts about the server shown in the page header (e.g. { workers: 2 }). */
  server?: Record<string, string | number | boolean>;
}

/** A run in a list: its logs reduced to a count and the first line. */
export type RunListItem = Omit<Run, "logs"> & { logCount: number; firstLog?: string };

const ASSETS: Record<string, { file: string; type: string }> = {
  "": { file: "index.html", type: "text/html; charset=utf-8" },
  "console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "console.css": { file: "console.css", type: "text/css; charset=utf-8" },
};

/**
 * Sent with every console response. The page builds the DOM with textContent only; the policy is the
 * second wall should tenant text (logs, routes, bodies) ever reach markup: no inline script, nothing
 * from elsewhere, no framing.
 */
const SECURITY_HEADERS: Record<string, string> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cache-Control": "no-store",
};

export function createConsole(options: ConsoleOptions): Hono {
  const isToken = tokenChecker(options.token);
  const assets = new Map(
    Object.entries(ASSETS).map(([name, a]) => [name, { body: readFileSync(new URL(`../assets/${a.file}`, import.meta.url), "utf8"), type: a.type }]),
  );
  const apps = options.apps.map(appSummary);
  const server = options.server ?? {};
  const runs = options.runs;
  const hono = new Hono();

  const under = `${CONSOLE_PATH}/*`; // also matches CONSOLE_PATH itself
  hono.use(under, async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  });

  // Without the trailing slash the page's relative URLs would resolve against /, not the console.
  hono.get(CONSOLE_PATH, (c) => c.redirect(`${CONSOLE_PATH}/${new URL(c.req.url).search}`, 302));

  // /_restitch/?token=… : check it, keep it in a cookie scoped to the console (so the try-it form's
  // calls to /app/… never carry it to tenant code) and redirect to drop it from the URL and history.
  hono.get(`${CONSOLE_PATH}/`, (c, next) => {
    const presented = c.req.query("token");
    if (presented === undefined) return next();
    if (!isToken(presented)) return unauthorized(c, "the token in the URL is not this server's console token");
    c.header("Set-Cookie", `${COOKIE}=${presented}; Path=${CONSOLE_PATH}/; HttpOnly; SameSite=Strict`);
    return c.redirect(`${CONSOLE_PATH}/`, 303);
  });

  hono.use(under, async (c, next) => {
    if (!isToken(bearer(c.req.header("authorization")) ?? cookie(c.req.header("cookie"), COOKIE))) {
      return unauthorized(c, "open the console URL printed when the server started (it carries ?token=…), or send Authorization: Bearer <token>");
    }
    return next();
  });

  for (const [name, asset] of assets) hono.get(`${CONSOLE_PATH}/${name}`, (c) => c.body(asset.body, 200, { "Content-Type": asset.type }));

  hono.get(`${CONSOLE_PATH}/api/apps`, (c) => c.json({ server, apps }));

  hono.get(`${CONSOLE_PATH}/api/runs`, (c) => {
    const after = intParam(c.req.query("after"), "after", 0);
    const limit = intParam(c.req.query("limit"), "limit", 1, 1000);
    if (typeof after === "string") return badRequest(c, after);
    if (typeof limit === "string") return badRequest(c, limit);
    const appId = c.req.query("appId");
    const list = runs.list({ ...(after !== undefined ? { after } : {}), ...(limit !== undefined ? { limit } : {}), ...(appId ? { appId } : {}) });
    return c.json({ latest: runs.latestId(), runs: list.map(listItem) });
  });

  hono.get(`${CONSOLE_PATH}/api/runs/:id`, (c) => {
    const id = intParam(c.req.param("id"), "id", 1);
    if (typeof id === "string") return badRequest(c, id);
    const run = id === undefined ? undefined : runs.get(id);
    if (!run) return c.json({ error: `no run ${c.req.param("id")} among the recent runs`, error_code: "RunNotFound" }, 404);
    return c.json(run);
  });

  hono.all(under, (c) => c.json({ error: `no such console resource: ${c.req.method} ${c.req.path}`, error_code: "NotFound" }, 404));
  return hono;
}

function listItem(run: Run): RunListItem {
  const { logs, ...rest } = run;
  return { ...rest, logCount: logs.length, ...(logs.length > 0 ? { firstLog: logs[0]!.slice(0, 200) } : {}) };
}

function unauthorized(c: Context, message: string): Response {
  c.header("WWW-Authenticate", 'Bearer realm="restitch console"');
  if (c.req.header("accept")?.includes("text/html")) {
    // A fixed page: nothing from the request is echoed into it.
    return c.html(
      `<!doctype html><meta charset="utf-8"><title>Restitch console: token needed</title><h1>Token needed</h1><p>Open the console URL that <code>restitch serve --console</code> printed when it started (it ends in <code>?token=…</code>).</p>`,
      401,
    );
  }
  return c.json({ error: message, error_code: "Unauthorized" }, 401);
}

function badRequest(c: Context, message: string): Response {
  return c.json({ error: message, error_code: "BadRequest" }, 400);
}

/** undefined when absent, the number when valid, else a message naming the parameter. */
function intParam(raw: string | undefined, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined | string {
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) return `parameter '${name}' must be an integer from ${min} to ${max}`;
  return n;
}

function bearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : undefined;
}

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
