/**
 * Credential checks per provider, shared by the client login API and endpoint authentication.
 * Each check returns the user and the identity it logged in with, or throws an AuthError.
 */
import { ObjectId } from "bson";
import { randomBytes } from "node:crypto";
import { CustomJwtVerifier, extractMetadata } from "./custom-jwt.js";
import { AuthError, isDuplicateKey, providerUnsupported } from "./errors.js";
import { providerOfType, type Provider, type ProviderType } from "./providers.js";
import {
  burnPasswordCheck,
  checkPassword,
  hashApiKey,
  hashPassword,
  safeEqual,
  VerifiedPasswords,
} from "./secrets.js";
import { hex, type ApiKeyDoc, type AuthDb, type CredentialDoc, type UserDoc } from "./store.js";
import type { UserIdentity } from "./types.js";

export interface LoggedIn {
  user: UserDoc;
  identity: UserIdentity;
  created: boolean;
}

type Of<T extends ProviderType> = Extract<Provider, { type: T }>;

export const invalidPassword = () => new AuthError(401, "InvalidPassword", "invalid username/password");
const invalidApiKey = () => new AuthError(401, "InvalidSession", "invalid API key");
export const userDisabled = () => new AuthError(401, "UserDisabled", "user is disabled");

/** Server API keys come from the secrets file: a secret named "api-key:<name>" is the key of server user <name>. */
export const SERVER_KEY_PREFIX = "api-key:";

function normaliseUsername(u: unknown): string {
  if (typeof u !== "string" || !u.trim()) throw new AuthError(400, "InvalidParameter", "username (email) must be a non-empty string");
  const name = u.trim().toLowerCase();
  if (name.length > 256) throw new AuthError(400, "InvalidParameter", "username (email) is longer than 256 characters");
  return name;
}

export class Logins {
  private readonly jwt = new Map<string, CustomJwtVerifier>();
  /** sha256(key) -> server key name. */
  private readonly serverKeys = new Map<string, string>();
  private readonly passwords: VerifiedPasswords;

  constructor(
    private readonly db: AuthDb,
    readonly providers: Map<string, Provider>,
    private readonly appId: string,
    secrets: Map<string, string>,
    private readonly now: () => number,
    private readonly runFunction?: (name: string, args: unknown[]) => Promise<unknown>,
    private readonly onUserCreated?: (user: UserDoc) => Promise<void>,
  ) {
    this.passwords = new VerifiedPasswords(now);
    for (const p of providers.values())
      if (p.type === "custom-token") this.jwt.set(p.name, new CustomJwtVerifier(p, appId, now));
    for (const [name, value] of secrets)
      if (name.startsWith(SERVER_KEY_PREFIX) && value) this.serverKeys.set(hashApiKey(value), name.slice(SERVER_KEY_PREFIX.length));
  }

  /** An enabled provider by login-URL name (falling back to type), else "unsupported". */
  provider(name: string): Provider {
    const p = this.providers.get(name) ?? [...this.providers.values()].find((x) => x.type === name);
    if (!p || p.disabled) throw providerUnsupported(name);
    return p;
  }

  /** The enabled provider of a type, for endpoint authentication (C49: a disabled one refuses). */
  enabledOfType<T extends ProviderType>(type: T): Of<T> {
    const p = providerOfType(this.providers, type);
    if (!p) throw providerUnsupported(type);
    return p;
  }

  private date(): Date {
    return new Date(this.now());
  }

  private async resolve(
    key: string,
    identity: UserIdentity,
    type: "normal" | "server",
    create: boolean,
  ): Promise<LoggedIn | null> {
    const found = await this.db.userForIdentity(key, create ? { type, identity } : null, this.date());
    if (!found) return null;
    if (found.user.disabled) throw userDisabled();
    if (found.created) await this.onUserCreated?.(found.user);
    const user = found.created ? found.user : await this.db.updateIdentityData(found.user, identity);
    return { user, identity, created: found.created };
  }

  async anonymous(): Promise<LoggedIn> {
    const provider = this.enabledOfType("anon-user");
    const identity: UserIdentity = { id: new ObjectId().toHexString(), provider_type: "anon-user", provider_id: provider.name, data: {} };
    return (await this.resolve(`anon-user:${identity.id}`, identity, "normal", true))!;
  }

  async userpass(provider: Of<"local-userpass">, username: unknown, password: unknown): Promise<LoggedIn> {
    const name = normaliseUsername(username);
    if (typeof password !== "string") throw new AuthError(400, "InvalidParameter", "password must be a string");
    const cred = await this.db.findOne<CredentialDoc & { identity_id: string }>("credentials", { _id: name });
    if (!cred) {
      await burnPasswordCheck(password);
      throw invalidPassword();
    }
    if (!(await this.passwords.verify(name, password, cred.hash))) throw invalidPassword();
    if (cred.status !== "confirmed") throw new AuthError(401, "AuthError", "confirmation required");
    const identity: UserIdentity = { id: cred.identity_id, provider_type: "local-userpass", provider_id: provider.name, data: { email: name } };
    return (await this.resolve(`local-userpass:${name}`, identity, "normal", true))!;
  }

  /** Registers a local-userpass account; answers whether it still needs confirmation. */
  async register(provider: Of<"local-userpass">, email: unknown, password: unknown): Promise<"confirmed" | "pending"> {
    const name = normaliseUsername(email);
    const hash = await hashPassword(checkPassword(password));
    const tokenId = new ObjectId().toHexString();
    const token = randomBytes(32).toString("hex");
    let status: "confirmed" | "pending" = provider.autoConfirm ? "confirmed" : "pending";
    const doc = {
      _id: name,
      hash,
      status,
      identity_id: new ObjectId().toHexString(),
      token_hash: hashApiKey(token),
      token_id: tokenId,
      created_at: this.date(),
    };
    try {
      await this.db.insertOne("credentials", doc);
    } catch (err) {
      if (isDuplicateKey(err)) throw new AuthError(409, "AccountNameInUse", "name already in use");
      throw err;
    }
    if (!provider.autoConfirm && provider.confirmationFunctionName) {
      status = await this.runStatusFunction(provider.confirmationFunctionName, [{ token, tokenId, username: name }], async () => {
        await this.db.deleteOne("credentials", { _id: name });
      });
      if (status === "confirmed") await this.db.updateOne("credentials", { _id: name }, { $set: { status }, $unset: { token_hash: "", token_id: "" } });
    }
    return status;
  }

  /** Completes a pending confirmation with the token pair the confirmation function (or mail) handed out. */
  async confirm(token: unknown, tokenId: unknown): Promise<void> {
    if (typeof token !== "string" || typeof tokenId !== "string") throw new AuthError(400, "InvalidParameter", "token and tokenId must be strings");
    const cred = await this.db.findOne<CredentialDoc>("credentials", { token_id: tokenId, status: "pending" });
    if (!cred?.token_hash || !safeEqual(cred.token_hash, hashApiKey(token)))
      throw new AuthError(400, "UserpassTokenInvalid", "invalid token data");
    await this.db.updateOne("credentials", { _id: cred._id }, { $set: { status: "confirmed" }, $unset: { token_hash: "", token_id: "" } });
  }

  /** reset/call: runs the reset function; on "success" the new password takes effect at once. */
  async resetViaFunction(provider: Of<"local-userpass">, email: unknown, password: unknown, args: unknown): Promise<void> {
    if (!provider.resetFunctionName) throw new AuthError(400, "InvalidParameter", "this app has no password reset function (runResetFunction)");
    const name = normaliseUsername(email);
    const hash = await hashPassword(checkPassword(password));
    const cred = await this.db.findOne<CredentialDoc>("credentials", { _id: name });
    if (!cred) throw new AuthError(404, "UserNotFound", "user not found");
    const tokenId = new ObjectId().toHexString();
    const token = randomBytes(32).toString("hex");
    const extra = Array.isArray(args) ? args : [];
    const status = await this.runStatusFunction(provider.resetFunctionName, [{ token, tokenId, username: name, password }, ...extra], async () => {});
    if (status === "confirmed") await this.db.updateOne("credentials", { _id: name }, { $set: { hash } });
    else await this.db.updateOne("credentials", { _id: name }, { $set: { reset_token_hash: hashApiKey(token), reset_token_id: tokenId, reset_hash: hash } });
  }

  /** Completes a pending reset: the new password chosen at reset/call takes effect. */
  async completeReset(token: unknown, tokenId: unknown, password: unknown): Promise<void> {
    if (typeof token !== "string" || typeof tokenId !== "string") throw new AuthError(400, "InvalidParameter", "token and tokenId must be strings");
    const cred = await this.db.findOne<{ _id: string; reset_token_hash?: string; reset_hash?: string }>("credentials", { reset_token_id: tokenId });
    if (!cred?.reset_token_hash || !safeEqual(cred.reset_token_hash, hashApiKey(token)))
      throw new AuthError(400, "UserpassTokenInvalid", "invalid token data");
    const hash = typeof password === "string" ? await hashPassword(checkPassword(password)) : cred.reset_hash;
    await this.db.updateOne("credentials", { _id: cred._id }, { $set: { hash }, $unset: { reset_token_hash: "", reset_token_id: "", reset_hash: "" } });
  }

  /** Runs a confirmation/reset function and maps {status:"success"|"pending"|"fail"}. */
  private async runStatusFunction(name: string, args: unknown[], onFail: () => Promise<void>): Promise<"confirmed" | "pending"> {
    if (!this.runFunction) throw new AuthError(500, "InternalServerError", `function '${name}' cannot run: no function runner was configured`);
    let result: unknown;
    try {
      result = await this.runFunction(name, args);
    } catch {
      await onFail();
      throw new AuthError(400, "FunctionExecutionError", `function '${name}' failed`);
    }
    const status = (result as { status?: unknown } | null)?.status;
    if (status === "success") return "confirmed";
    if (status === "pending") return "pending";
    await onFail();
    throw new AuthError(400, "BadRequest", `function '${name}' returned status ${JSON.stringify(status ?? null)}`);
  }

  async apiKey(key: unknown): Promise<LoggedIn> {
    const provider = this.enabledOfType("api-key");
    if (typeof key !== "string" || !key) throw new AuthError(400, "InvalidParameter", "key must be a non-empty string");
    const hash = hashApiKey(key);
    const server = this.serverKeys.get(hash);
    if (server !== undefined) {
      const identity: UserIdentity = { id: server, provider_type: "api-key", provider_id: provider.name, data: { name: server } };
      return (await this.resolve(`api-key:server:${server}`, identity, "server", true))!;
    }
    const doc = await this.db.findOne<ApiKeyDoc>("apikeys", { hash });
    if (!doc || doc.disabled) throw invalidApiKey();
    const user = await this.db.userById(doc.user_id);
    if (!user) throw invalidApiKey();
    if (user.disabled) throw userDisabled();
    const identity: UserIdentity = { id: hex(doc._id), provider_type: "api-key", provider_id: provider.name, data: { name: doc.name } };
    return { user, identity, created: false };
  }

  /** custom-token login; `create` false gives null for a valid token whose sub has no user yet (C58). */
  async customToken(token: unknown, create: boolean, provider = this.enabledOfType("custom-token")): Promise<LoggedIn | null> {
    const verified = await this.jwt.get(provider.name)!.verify(token);
    const identity: UserIdentity = { id: verified.sub, provider_type: "custom-token", provider_id: provider.name, data: verified.data };
    return this.resolve(`custom-token:${provider.name}:${verified.sub}`, identity, "normal", create);
  }

  async customFunction(provider: Of<"custom-function">, payload: Record<string, unknown>): Promise<LoggedIn> {
    if (!this.runFunction) throw new AuthError(500, "InternalServerError", "custom-function authentication needs a function runner");
    let result: unknown;
    try {
      result = await this.runFunction(provider.functionName, [payload]);
    } catch (err) {
      // The function's own message is the client's explanation (App Services passes it through).
      const message = err instanceof Error ? err.message : String(err);
      throw new AuthError(401, "CustomFunctionAuthError", `authentication function failed: ${message.slice(0, 500)}`);
    }
    const id = typeof result === "string" ? result : (result as { id?: unknown } | null)?.id;
    if (typeof id !== "string" || !id) throw new AuthError(401, "CustomFunctionAuthError", "authentication function must return a non-empty string id");
    const data = extractMetadata(payload, provider.metadataFields);
    const identity: UserIdentity = { id, provider_type: "custom-function", provider_id: provider.name, data };
    return (await this.resolve(`custom-function:${provider.name}:${id}`, identity, "normal", true))!;
  }

  /** Email and password from endpoint headers (uses the enabled local-userpass provider). */
  async emailPassword(email: string, password: string): Promise<LoggedIn> {
    return this.userpass(this.enabledOfType("local-userpass"), email, password);
  }
}
