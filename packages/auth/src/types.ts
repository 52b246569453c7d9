/**
 * The public contract of @restitch/auth. The app and store inputs are the parts of @restitch/config's
 * AppModel and @restitch/mongodb's DataService that auth reads, so either is passed as is.
 */
import type { AppModel, AuthProviderDef, CustomUserDataConfig } from "@restitch/config";
import type { DataOperation, DataService } from "@restitch/mongodb";
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

/** One entry of auth/providers.json, as @restitch/config normalises it. */
export type AuthProviderInput = AuthProviderDef;
/** auth/custom_user_data.json, as @restitch/config normalises it. */
export type CustomUserDataInput = CustomUserDataConfig;
/** What auth reads of the app. */
export type AuthApp = Pick<AppModel, "appId" | "authProviders" | "customUserData" | "secrets">;
/** The operations auth sends to its store. */
export type StoreOperation = DataOperation;
/** What auth needs of a data service: execute(). Errors carry `code` ("DuplicateKey", …). */
export type AuthStore = Pick<DataService, "execute">;

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
