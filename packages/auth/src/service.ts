/**
 * createAuth: wires the store, providers, tokens, sessions and routes of one app.
 */
import { ApiKeys } from "./api-keys.js";
import { authenticateRequest } from "./authenticate.js";
import { Logins } from "./logins.js";
import { parseProviders } from "./providers.js";
import { Sessions } from "./sessions.js";
import { AuthDb, hex, toObjectId, type UserDoc } from "./store.js";
import { authRoutes } from "./routes.js";
import { FailureThrottle } from "./throttle.js";
import { TokenSigner } from "./tokens.js";
import type { AppUser, AuthService, CreateAuthOptions } from "./types.js";

export interface RestitchAuthService extends AuthService {
  /** Provider entries Restitch does not implement (e.g. "oauth2-google (oauth2-google)"); their logins are refused. */
  readonly unsupportedProviders: string[];
  /** The store database holding this app's users. */
  readonly database: string;
  /** Operator actions (no client route exists for them in App Services either). */
  setUserDisabled(id: string, disabled: boolean): Promise<boolean>;
  deleteUser(id: string): Promise<boolean>;
}

export async function createAuth(options: CreateAuthOptions): Promise<RestitchAuthService> {
  const { app, store } = options;
  if (!app || typeof app.appId !== "string" || !app.appId) throw new TypeError("createAuth: options.app.appId must be a non-empty string");
  if (!store || typeof store.execute !== "function") throw new TypeError("createAuth: options.store must be a data service");
  const now = options.now ?? Date.now;
  const { providers, unsupported } = parseProviders(app);
  const db = new AuthDb(store, app.appId);
  await db.init();
  const signer = new TokenSigner(await db.signingKey(), now);
  const sessions = new Sessions(db, signer, app.appId, now, options.userCacheMs ?? 1000);
  const throttle = new FailureThrottle(options.throttle?.maxFailures ?? 10, options.throttle?.windowMs ?? 5 * 60_000, now);
  const cud = app.customUserData;

  /** auth/custom_user_data.json: the document whose user_id_field is the id as a string, else as an ObjectId. */
  async function customData(user: UserDoc): Promise<Record<string, unknown>> {
    if (!cud?.enabled) return {};
    const service = options.customUserDataService?.(cud.mongoServiceName);
    if (!service) return {};
    const find = (value: unknown) =>
      service.execute({ kind: "findOne", database: cud.databaseName, collection: cud.collectionName, filter: { [cud.userIdField]: value } }) as Promise<Record<string, unknown> | null>;
    return (await find(hex(user._id))) ?? (await find(user._id)) ?? {};
  }

  async function toAppUser(user: UserDoc, fetchCustomUserData: boolean): Promise<AppUser> {
    return {
      id: hex(user._id),
      type: user.type,
      data: { ...user.data },
      identities: user.identities.map((i) => ({ ...i, data: { ...(i.data ?? {}) } })),
      custom_data: fetchCustomUserData ? await customData(user) : {},
      ...(user.disabled ? { disabled: true } : {}),
    };
  }

  const onUserCreated = async (user: UserDoc) => {
    if (!cud?.enabled || !cud.onUserCreationFunctionName || !options.runFunction) return;
    // App Services runs this once per new user; a failing function does not undo the user.
    await options.runFunction(cud.onUserCreationFunctionName, [await toAppUser(user, false)]).catch(() => undefined);
  };

  const logins = new Logins(db, providers, app.appId, app.secrets ?? new Map(), now, options.runFunction, onUserCreated);
  const apiKeys = new ApiKeys(db, now);

  async function deleteUser(id: string): Promise<boolean> {
    const oid = toObjectId(id);
    if (!oid) return false;
    const deleted = await db.deleteUser(oid);
    sessions.forgetUser(id);
    return deleted;
  }

  const routes = authRoutes({
    appId: app.appId,
    logins,
    sessions,
    apiKeys,
    throttle,
    deleteUser: async (user) => void (await deleteUser(hex(user._id))),
  });

  return {
    routes,
    unsupportedProviders: unsupported,
    database: db.database,
    authenticateRequest: (input) => authenticateRequest({ logins, sessions, throttle, toAppUser }, input),
    async getUser(id, opts) {
      const oid = toObjectId(id);
      const user = oid ? await db.userById(oid) : null;
      if (!user || user.disabled) return null;
      return toAppUser(user, opts?.fetchCustomUserData === true);
    },
    async setUserDisabled(id, disabled) {
      const oid = toObjectId(id);
      if (!oid) return false;
      const { matchedCount } = await db.updateOne("users", { _id: oid }, { $set: { disabled } });
      sessions.forgetUser(id);
      return matchedCount > 0;
    },
    deleteUser,
    async close() {
      // The store belongs to the caller; nothing of auth's own holds resources.
    },
  };
}

