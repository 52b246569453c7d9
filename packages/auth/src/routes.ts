/**
 * The client auth API as App Services serves it under /api/client/v2.0 (the router mounts this app
 * there). Every error answers {"error", "error_code"}; nothing secret is ever echoed.
 */
import { Hono, type Context, type Next } from "hono";
import { decodeJwt } from "jose";
import type { ApiKeys } from "./api-keys.js";
import { AuthError } from "./errors.js";
import type { LoggedIn, Logins } from "./logins.js";
import { deviceIdFrom, type Sessions } from "./sessions.js";
import { hex, type UserDoc } from "./store.js";
import type { FailureThrottle } from "./throttle.js";
import { bearerToken } from "./tokens.js";

/** A JWT may be up to 1,000,000 characters (spec §2.5); nothing else here comes close. */
const MAX_BODY = 2 * 1024 * 1024;

export interface RouteDeps {
  appId: string;
  logins: Logins;
  sessions: Sessions;
  apiKeys: ApiKeys;
  throttle: FailureThrottle;
  deleteUser(user: UserDoc): Promise<void>;
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new AuthError(413, "InvalidParameter", "request body is too large");
  if (!text.trim()) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AuthError(400, "InvalidParameter", "request body must be a JSON object");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new AuthError(400, "InvalidParameter", "request body must be a JSON object");
  return parsed as Record<string, unknown>;
}

function remoteAddress(c: Context): string | undefined {
  // @hono/node-server exposes the Node request as env.incoming.
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

function token(c: Context): string {
  const t = bearerToken(c.req.header("authorization"));
  if (!t) throw new AuthError(401, "InvalidSession", "must authenticate first: send Authorization: Bearer <token>");
  return t;
}

/**
 * The /auth/* routes carry no app id in the URL. When several apps' routes are mounted on one
 * server, a handler passes a token minted for another app on to the next app's handler (the claim is
 * only read for routing; the owning app still verifies the signature).
 */
function ownedBy(appId: string, handler: (c: Context) => Promise<Response>) {
  return async (c: Context, next: Next): Promise<Response | void> => {
    const t = bearerToken(c.req.header("authorization"));
    if (t) {
      let domain: unknown;
      try {
        domain = decodeJwt(t).baas_domain_id;
      } catch {
        domain = undefined;
      }
      if (typeof domain === "string" && domain !== appId) return next();
    }
    return handler(c);
  };
}

export function authRoutes(deps: RouteDeps): Hono {
  const app = new Hono();
  const { logins, sessions, apiKeys, throttle } = deps;
  const own = (h: (c: Context) => Promise<Response>) => ownedBy(deps.appId, h);

  app.onError((err, c) => {
    if (err instanceof AuthError) return c.json(err.toBody(), err.status as 400);
    return c.json({ error: "internal server error", error_code: "InternalServerError" }, 500);
  });

  /**
   * Routes under /app/:appId/ belong to one app; another app's requests pass to the next mounted app
   * (several apps on one server). Mounted alone, an unknown id answers App Services' 404.
   */
  const forApp =
    (handler: (c: Context) => Promise<Response> | Response) =>
    async (c: Context, next: Next): Promise<Response | void> => {
      if (c.req.param("appId") === deps.appId) return handler(c);
      return next();
    };
  // Used only when this app is served alone; a host's own notFound wins when it mounts these routes.
  app.notFound((c) => {
    const m = /\/app\/([^/]+)\//.exec(c.req.path);
    if (m) return c.json({ error: `cannot find app using Client App ID '${m[1]}'`, error_code: "AppNotFound" }, 404);
    return c.json({ error: "no such resource", error_code: "NotFound" }, 404);
  });

  app.get("/app/:appId/location", forApp((c) => {
    const origin = new URL(c.req.url).origin;
    return c.json({ deployment_model: "GLOBAL", location: "local", hostname: origin, ws_hostname: origin.replace(/^http/, "ws") });
  }));

  app.post("/app/:appId/auth/providers/local-userpass/register", forApp(async (c) => {
    const body = await jsonBody(c);
    const provider = logins.provider("local-userpass");
    if (provider.type !== "local-userpass") throw new AuthError(400, "InvalidParameter", "not a local-userpass provider");
    await logins.register(provider, body.email ?? body.username, body.password);
    return c.body(null, 201);
  }));

  app.post("/app/:appId/auth/providers/local-userpass/confirm", forApp(async (c) => {
    logins.provider("local-userpass");
    const body = await jsonBody(c);
    await logins.confirm(body.token, body.tokenId);
    return c.body(null, 204);
  }));

  app.post("/app/:appId/auth/providers/local-userpass/reset/call", forApp(async (c) => {
    const provider = logins.provider("local-userpass");
    if (provider.type !== "local-userpass") throw new AuthError(400, "InvalidParameter", "not a local-userpass provider");
    const body = await jsonBody(c);
    await logins.resetViaFunction(provider, body.email ?? body.username, body.password, body.arguments);
    return c.body(null, 204);
  }));

  app.post("/app/:appId/auth/providers/local-userpass/reset", forApp(async (c) => {
    logins.provider("local-userpass");
    const body = await jsonBody(c);
    await logins.completeReset(body.token, body.tokenId, body.password);
    return c.body(null, 204);
  }));

  app.post("/app/:appId/auth/providers/:provider/login", forApp(async (c) => {
    const body = await jsonBody(c);
    const provider = logins.provider(c.req.param("provider") ?? "");
    const username = provider.type === "local-userpass" ? body.username ?? body.email : undefined;
    const keys = [
      typeof username === "string" ? `user:${username.trim().toLowerCase()}` : undefined,
      remoteAddress(c) ? `addr:${remoteAddress(c)}` : undefined,
    ];
    if (throttle.blocked(keys)) throw new AuthError(429, "TooManyRequests", "too many failed authentication attempts; try again later");
    let logged: LoggedIn | null;
    try {
      switch (provider.type) {
        case "anon-user":
          logged = await logins.anonymous();
          break;
        case "local-userpass":
          logged = await logins.userpass(provider, username, body.password);
          break;
        case "api-key":
          logged = await logins.apiKey(body.key);
          break;
        case "custom-token":
          // SESS and the SDKs send "token"; the docs' tested helper sends "key" (C142).
          logged = await logins.customToken(body.token ?? body.key, true, provider);
          break;
        case "custom-function":
          logged = await logins.customFunction(provider, body);
          break;
      }
    } catch (err) {
      if (err instanceof AuthError && err.status === 401) throttle.fail(keys);
      throw err;
    }
    throttle.succeed(keys);
    return c.json(await sessions.start(logged!.user, logged!.identity, deviceIdFrom(body)), 200);
  }));

  app.post("/auth/session", own(async (c) => c.json(await sessions.refresh(token(c)), 201)));

  app.delete(
    "/auth/session",
    own(async (c) => {
      await sessions.logout(token(c));
      return c.body(null, 204);
    }),
  );

  app.get("/auth/profile", own(async (c) => {
    const user = await sessions.userFromEither(token(c));
    return c.json({
      user_id: hex(user._id),
      domain_id: deps.appId,
      type: user.type,
      identities: user.identities.map((i) => ({ id: i.id, provider_type: i.provider_type, provider_id: i.provider_id, provider_data: i.data ?? {} })),
      data: user.data,
    });
  }));

  app.delete("/auth/delete", own(async (c) => {
    const user = await sessions.userFromEither(token(c));
    await deps.deleteUser(user);
    return c.body(null, 204);
  }));

  app.get("/auth/api_keys", own(async (c) => c.json(await apiKeys.list(await sessions.userFromEither(token(c))))));
  app.post("/auth/api_keys", own(async (c) => {
    const user = await sessions.userFromEither(token(c));
    const body = await jsonBody(c);
    return c.json(await apiKeys.create(user, body.name), 201);
  }));
  app.get("/auth/api_keys/:id", own(async (c) => c.json(await apiKeys.get(await sessions.userFromEither(token(c)), c.req.param("id") ?? ""))));
  app.delete("/auth/api_keys/:id", own(async (c) => {
    await apiKeys.remove(await sessions.userFromEither(token(c)), c.req.param("id") ?? "");
    return c.body(null, 204);
  }));
  for (const action of ["enable", "disable"] as const)
    app.put(`/auth/api_keys/:id/${action}`, own(async (c) => {
      await apiKeys.setDisabled(await sessions.userFromEither(token(c)), c.req.param("id") ?? "", action === "disable");
      return c.body(null, 204);
    }));

  return app;
}
