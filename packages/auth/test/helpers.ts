/** Test fixtures: an app with every provider, real data services (embedded, and the driver when MONGODB_URI is set). */
import { SignJWT } from "jose";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDriverDataService, createEmbeddedDataService, type DataService } from "@restitch/mongodb";
import type { AuthApp, AuthProviderInput } from "../src/types.js";

export const JWT_KEY = "a_very_secret_signing_key_of_32_chars_or_more";
export const SERVER_KEY = "TpqAKQgvhZE4r6AOzpVydJ9a3tB1BLMrgDzLlBLbihKNDzSJWTAHMVbsMoIOpnM6";

export function provider(name: string, p: Partial<AuthProviderInput> & { type?: string } = {}): AuthProviderInput {
  return { name, type: name, disabled: false, config: {}, secretConfig: {}, metadataFields: [], ...p };
}

let counter = 0;
/** A unique app id per test, so driver-backed runs never see each other's users. */
export function testApp(overrides: Partial<AuthApp> & { providers?: Record<string, Partial<AuthProviderInput>> } = {}): AuthApp {
  const appId = `authtest-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const base: Record<string, AuthProviderInput> = {
    "anon-user": provider("anon-user"),
    "local-userpass": provider("local-userpass", { config: { autoConfirm: true } }),
    "api-key": provider("api-key"),
    "custom-token": provider("custom-token", {
      config: { signingAlgorithm: "HS256", audience: [], requireAnyAudience: false, useJWKURI: false },
      secretConfig: { signingKeys: ["jwtKey"] },
      metadataFields: [{ required: false, name: "user_data.name", fieldName: "name" }],
    }),
  };
  for (const [name, p] of Object.entries(overrides.providers ?? {})) base[name] = { ...(base[name] ?? provider(name)), ...p };
  return {
    appId,
    authProviders: base,
    secrets: new Map([
      ["jwtKey", JWT_KEY],
      ["api-key:ci-server", SERVER_KEY],
    ]),
    ...(overrides.customUserData ? { customUserData: overrides.customUserData } : {}),
    ...(overrides.appId ? { appId: overrides.appId } : {}),
  };
}

export function customJwt(appId: string, payload: Record<string, unknown> = {}, key = JWT_KEY): Promise<string> {
  return new SignJWT({ aud: appId, sub: "jwt-user-1", exp: 2145916800, iat: 1516239022, ...payload })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(key));
}

export interface Backend {
  name: string;
  open(): Promise<DataService>;
  cleanup(): void;
}

export function backends(): Backend[] {
  const list: Backend[] = [
    { name: "embedded (memory)", open: () => createEmbeddedDataService({ name: "auth-store" }), cleanup() {} },
  ];
  const dir = mkdtempSync(join(tmpdir(), "restitch-auth-"));
  list.push({
    name: "embedded (durable)",
    open: () => createEmbeddedDataService({ name: "auth-store", dataDir: dir }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  });
  const uri = process.env.MONGODB_URI;
  if (uri) list.push({ name: `driver (${uri})`, open: () => createDriverDataService({ name: "auth-store", uri }), cleanup() {} });
  else console.warn("[auth tests] MONGODB_URI is not set: skipping the driver backend (set it to run against a real server)");
  return list;
}
