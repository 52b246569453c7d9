/**
 * Application authentication of endpoint, Data API and webhook requests (spec §5.6, §5.7):
 * a Bearer access token wins and never falls back; otherwise exactly one credential method from
 * the headers (or, for legacy webhooks, the body — never both).
 */
import { AuthError, MSG_ENDPOINT_USER, MSG_NO_AUTH, MSG_PARTIAL_AUTH } from "./errors.js";
import type { LoggedIn, Logins } from "./logins.js";
import type { Sessions } from "./sessions.js";
import type { UserDoc } from "./store.js";
import type { FailureThrottle } from "./throttle.js";
import { bearerToken } from "./tokens.js";
import type { AppUser, AuthenticateInput, AuthResult } from "./types.js";

interface Credentials {
  email?: string;
  password?: string;
  apiKey?: string;
  jwt?: string;
}

const fail = (status: number, errorCode: string, error: string): AuthResult => ({ ok: false, status, error, errorCode });

/** Header lookup by lower-case name, tolerant of a caller that did not lower-case. */
function headerReader(headers: Record<string, string[]>): (name: string) => string | undefined {
  const lower = new Map<string, string[]>();
  for (const [k, v] of Object.entries(headers)) lower.set(k.toLowerCase(), v);
  return (name) => lower.get(name)?.[0];
}

function fromHeaders(h: (name: string) => string | undefined): Credentials {
  return { email: h("email"), password: h("password"), apiKey: h("apikey") ?? h("api-key"), jwt: h("jwttokenstring") };
}

function fromBody(body: Record<string, unknown> | undefined): Credentials {
  if (!body || typeof body !== "object") return {};
  const str = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? undefined : String(v));
  return { email: str(body.email), password: str(body.password), apiKey: str(body["api-key"] ?? body.apiKey), jwt: str(body.jwtTokenString) };
}

const present = (c: Credentials) => Object.values(c).some((v) => v !== undefined);

export interface AuthenticateDeps {
  logins: Logins;
  sessions: Sessions;
  throttle: FailureThrottle;
  toAppUser(user: UserDoc, fetchCustomUserData: boolean): Promise<AppUser>;
}

export async function authenticateRequest(deps: AuthenticateDeps, input: AuthenticateInput): Promise<AuthResult> {
  const h = headerReader(input.headers ?? {});
  const authorization = h("authorization");
  if (authorization !== undefined && /^\s*bearer(\s|$)/i.test(authorization)) {
    // C48: a Bearer header decides alone; credential headers next to it are never consulted.
    const token = bearerToken(authorization);
    const user = token ? await deps.sessions.userFromAccess(token) : null;
    if (!user) return fail(401, "InvalidSession", "invalid session");
    return { ok: true, user: await deps.toAppUser(user, input.fetchCustomUserData) };
  }

  const header = fromHeaders(h);
  const body = fromBody(input.bodyCredentials);
  if (present(header) && present(body))
    return fail(400, "InvalidParameter", "credentials were given in both the request headers and the body; send them in one place");
  const c = present(header) ? header : body;
  const methods = [c.email !== undefined || c.password !== undefined, c.apiKey !== undefined, c.jwt !== undefined].filter(Boolean).length;
  if (methods === 0) return fail(400, "InvalidParameter", MSG_NO_AUTH);
  if (methods > 1) return fail(400, "InvalidParameter", "more than one authentication method was specified; send one of email+password, api-key or jwtTokenString");
  if ((c.email !== undefined || c.password !== undefined) && (!c.email || !c.password))
    return fail(400, "MissingParameter", MSG_PARTIAL_AUTH);

  const keys = [c.email ? `user:${c.email.trim().toLowerCase()}` : undefined, input.remoteAddress ? `addr:${input.remoteAddress}` : undefined];
  if (deps.throttle.blocked(keys)) return fail(429, "TooManyRequests", "too many failed authentication attempts; try again later");
  try {
    let logged: LoggedIn | null;
    if (c.email) logged = await deps.logins.emailPassword(c.email, c.password!);
    else if (c.apiKey !== undefined) logged = await deps.logins.apiKey(c.apiKey);
    else logged = await deps.logins.customToken(c.jwt, input.createUserOnAuth);
    if (!logged) {
      // C58: a valid token whose subject has no user, and the endpoint may not create one.
      deps.throttle.fail(keys);
      return fail(401, "InvalidSession", MSG_ENDPOINT_USER);
    }
    deps.throttle.succeed(keys);
    return { ok: true, user: await deps.toAppUser(logged.user, input.fetchCustomUserData) };
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    if (err.status === 401) deps.throttle.fail(keys);
    if (err.errorCode === "AuthProviderNotFound") return fail(401, "InvalidSession", err.message);
    // Every other credential refusal gets the one message App Services gives endpoints (C42).
    if (err.status === 401) return fail(401, "InvalidSession", MSG_ENDPOINT_USER);
    return fail(err.status, err.errorCode, err.message);
  }
}
