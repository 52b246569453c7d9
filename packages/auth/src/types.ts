/**
 * The public contract of @restitch/auth. The app and store inputs are structural subsets of
 * @restitch/config's AppModel and @restitch/mongodb's DataService, so either can be passed as is.
 */
import type { Hono } from "hono";

export interface AppUser {
  /** 24-hex ObjectId string. */
  id: string;
  type: "normal" | "server";
  data: Record<string, unknown>;
  identities: UserIdentity[];
  custom_data: Record<string, unknown>;
  disabled?: boolean;
}

export interface UserIdentity {
  id: string;
  provider_type: string;
  provider_id?: string;
  data?: Record<string, unknown>;
}

/** One entry of auth/providers.json as @restitch/config normalises it. */
export interface AuthProviderInput {
  name: string;
  type: string;
  disabled: boolean;
  config: Record<string, unknown>;
  secretConfig: Record<string, unknown>;
  metadataFields: { required: boolean; name: string; fieldName: string }[];
}

/** auth/custom_user_data.json as @restitch/config normalises it. */
export interface CustomUserDataInput {
  enabled: boolean;
  mongoServiceName: string;
  databaseName: string;
  collectionName: string;
  userIdField: string;
  onUserCreationFunctionName?: string;
}

/** What auth reads of the app (AppModel satisfies it). */
export interface AuthApp {
  appId: string;
  authProviders: Record<string, AuthProviderInput>;
  customUserData?: CustomUserDataInput;
  secrets: Map<string, string>;
}

type Doc = Record<string, unknown>;
/** The operations auth sends to its store: a subset of @restitch/mongodb's DataOperation. */
export type StoreOperation = { database: string; collection: string } & (
  | { kind: "find"; filter: Doc; projection?: Doc; sort?: Doc; limit?: number; skip?: number }
  | { kind: "findOne"; filter: Doc; projection?: Doc; sort?: Doc }
  | { kind: "insertOne"; document: Doc }
  | { kind: "updateOne"; filter: Doc; update: Doc; upsert: boolean }
  | { kind: "deleteOne" | "deleteMany"; filter: Doc }
  | { kind: "count"; filter: Doc }
  | { kind: "createIndex"; keys: Doc; unique: boolean; name?: string }
);

/** A data service as auth needs it (DataService satisfies it). Errors carry `code` ("DuplicateKey", …). */
export interface AuthStore {
  execute(op: StoreOperation): Promise<unknown>;
}

export interface CreateAuthOptions {
  app: AuthApp;
  /** Where users, identities, API keys, sessions and the signing key live (database "__restitch_auth_<appId>"). */
  store: AuthStore;
  /** Resolves auth/custom_user_data.json's mongo_service_name. */
  customUserDataService?: (serviceName: string) => AuthStore | undefined;
  /** Runs an app function (confirmation, reset and custom-function providers). */
  runFunction?: (name: string, args: unknown[]) => Promise<unknown>;
  /** Clock in ms (tests). */
  now?: () => number;
  /** Failed-login throttling; defaults 10 failures per 5 minutes per identity and per client address. */
  throttle?: { maxFailures?: number; windowMs?: number };
  /** How long a checked user/session stays trusted before the store is asked again (ms, default 1000). */
  userCacheMs?: number;
}

export type AuthResult =
  | { ok: true; user: AppUser }
  | { ok: false; status: number; error: string; errorCode: string };

export interface AuthenticateInput {
  /** Header name (lower-case) -> values. */
  headers: Record<string, string[]>;
  /** Legacy webhooks (run_as_authed_user): credentials sent as JSON body fields. */
  bodyCredentials?: Record<string, unknown>;
  createUserOnAuth: boolean;
  fetchCustomUserData: boolean;
  /** The client's address, for failed-attempt throttling. */
  remoteAddress?: string;
}

export interface AuthService {
  /** Hono sub-app for the client API; mount it under /api/client/v2.0. */
  routes: Hono;
  /** Endpoint / Data API / webhook application authentication (spec §5.6, §5.7). */
  authenticateRequest(input: AuthenticateInput): Promise<AuthResult>;
  /** The user (run_as_user_id, script auth), or null when unknown or disabled. */
  getUser(id: string, options?: { fetchCustomUserData?: boolean }): Promise<AppUser | null>;
  close(): Promise<void>;
}
