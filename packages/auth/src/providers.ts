/**
 * auth/providers.json -> the normalised provider set auth works with. Every problem is reported at
 * once, naming the provider and field; secret values never appear in a message.
 */
import type { AuthApp, AuthProviderInput } from "./types.js";

export const SUPPORTED_TYPES = ["anon-user", "local-userpass", "api-key", "custom-token", "custom-function"] as const;
export type ProviderType = (typeof SUPPORTED_TYPES)[number];

export interface MetadataField {
  required: boolean;
  /** Path segments into the JWT payload ("\." in the configured name escapes a dot). */
  path: string[];
  fieldName: string;
}

export interface ProviderBase {
  name: string;
  disabled: boolean;
}
export type Provider =
  | (ProviderBase & { type: "anon-user" })
  | (ProviderBase & {
      type: "local-userpass";
      autoConfirm: boolean;
      confirmationFunctionName?: string;
      resetFunctionName?: string;
    })
  | (ProviderBase & { type: "api-key" })
  | (ProviderBase & {
      type: "custom-token";
      algorithm: "HS256" | "RS256";
      /** HS256 secrets or RS256 public-key PEMs, from the secrets named by secret_config.signingKeys. */
      keys: string[];
      jwkUri?: string;
      audience: string[];
      requireAnyAudience: boolean;
      metadataFields: MetadataField[];
    })
  | (ProviderBase & { type: "custom-function"; functionName: string; metadataFields: MetadataField[] });

export class AuthConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`auth/providers.json is invalid:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "AuthConfigError";
  }
}

/** Splits "a.b\.c" into ["a", "b.c"]. */
export function splitPath(name: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === "\\" && name[i + 1] === ".") {
      cur += ".";
      i++;
    } else if (ch === ".") {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const SIGNING_KEY = /^[A-Za-z0-9_-]{32,512}$/;

function metadataFields(p: AuthProviderInput, where: string, problems: string[]): MetadataField[] {
  return p.metadataFields.map((f, i) => {
    const path = splitPath(f.name);
    if (!f.name || path.some((s) => s === "")) problems.push(`${where}.metadata_fields[${i}].name: must be a non-empty dot path`);
    const fieldName = f.fieldName || path[path.length - 1] || "";
    if (fieldName.length > 64) problems.push(`${where}.metadata_fields[${i}].field_name: at most 64 characters`);
    return { required: f.required, path, fieldName };
  });
}

function customToken(p: AuthProviderInput, where: string, app: AuthApp, problems: string[]): Provider {
  const c = p.config;
  const algorithm = c.signingAlgorithm ?? "HS256";
  if (algorithm !== "HS256" && algorithm !== "RS256")
    problems.push(`${where}.config.signingAlgorithm: must be "HS256" or "RS256", got ${JSON.stringify(algorithm)}`);
  const useJwk = c.useJWKURI === true;
  const jwkUri = typeof c.jwkURI === "string" ? c.jwkURI : undefined;
  if (useJwk && !jwkUri) problems.push(`${where}.config.jwkURI: required when useJWKURI is true`);
  const names = p.secretConfig.signingKeys ?? (p.secretConfig.signingKey !== undefined ? [p.secretConfig.signingKey] : []);
  const keys: string[] = [];
  if (!Array.isArray(names) || names.some((n) => typeof n !== "string"))
    problems.push(`${where}.secret_config.signingKeys: must be an array of secret names`);
  else {
    if (names.length > 3) problems.push(`${where}.secret_config.signingKeys: at most 3 keys`);
    for (const name of names as string[]) {
      const value = app.secrets.get(name);
      if (value === undefined) problems.push(`${where}.secret_config.signingKeys: secret '${name}' is not in the secrets file`);
      else if (algorithm === "HS256" && !SIGNING_KEY.test(value))
        problems.push(`${where}.secret_config.signingKeys: secret '${name}' must be 32-512 characters of [A-Za-z0-9_-]`);
      else keys.push(value);
    }
    if (!useJwk && names.length === 0) problems.push(`${where}.secret_config.signingKeys: at least one signing key is required`);
  }
  let audience: string[] = [];
  if (typeof c.audience === "string") audience = c.audience ? [c.audience] : [];
  else if (Array.isArray(c.audience) && c.audience.every((a) => typeof a === "string")) audience = c.audience as string[];
  else if (c.audience !== undefined && c.audience !== null) problems.push(`${where}.config.audience: must be a string or an array of strings`);
  return {
    type: "custom-token",
    name: p.name,
    disabled: p.disabled,
    algorithm: algorithm === "RS256" ? "RS256" : "HS256",
    keys,
    ...(useJwk && jwkUri ? { jwkUri } : {}),
    audience,
    requireAnyAudience: c.requireAnyAudience === true,
    metadataFields: metadataFields(p, where, problems),
  };
}

function optionalName(c: Record<string, unknown>, run: string, key: string, where: string, problems: string[]): string | undefined {
  if (c[run] !== true) return undefined;
  if (typeof c[key] !== "string" || !c[key]) {
    problems.push(`${where}.config.${key}: required when ${run} is true`);
    return undefined;
  }
  return c[key] as string;
}

/**
 * Providers by name. Types Restitch does not implement (OAuth 2.0) are left out and named in the
 * returned `unsupported` list, so the host can warn; their logins answer "unsupported".
 */
export function parseProviders(app: AuthApp): { providers: Map<string, Provider>; unsupported: string[] } {
  const problems: string[] = [];
  const providers = new Map<string, Provider>();
  const unsupported: string[] = [];
  for (const [key, p] of Object.entries(app.authProviders)) {
    const name = p.name || key;
    const where = name;
    const base = { name, disabled: p.disabled === true };
    switch (p.type) {
      case "anon-user":
      case "api-key":
        providers.set(name, { ...base, type: p.type });
        break;
      case "local-userpass": {
        const c = p.config;
        const confirmationFunctionName = optionalName(c, "runConfirmationFunction", "confirmationFunctionName", where, problems);
        const resetFunctionName = optionalName(c, "runResetFunction", "resetFunctionName", where, problems);
        providers.set(name, {
          ...base,
          type: "local-userpass",
          autoConfirm: c.autoConfirm === true,
          ...(confirmationFunctionName ? { confirmationFunctionName } : {}),
          ...(resetFunctionName ? { resetFunctionName } : {}),
        });
        break;
      }
      case "custom-token":
        providers.set(name, customToken(p, where, app, problems));
        break;
      case "custom-function": {
        const fn = p.config.functionName;
        if (typeof fn !== "string" || !fn) problems.push(`${where}.config.functionName: required (the authentication function's name)`);
        providers.set(name, {
          ...base,
          type: "custom-function",
          functionName: typeof fn === "string" ? fn : "",
          metadataFields: metadataFields(p, where, problems),
        });
        break;
      }
      default:
        unsupported.push(`${name} (${p.type})`);
    }
  }
  if (problems.length) throw new AuthConfigError(problems);
  return { providers, unsupported };
}

/** The first enabled provider of a type (endpoint authentication picks providers by type). */
export function providerOfType<T extends ProviderType>(
  providers: Map<string, Provider>,
  type: T,
): Extract<Provider, { type: T }> | undefined {
  for (const p of providers.values()) if (p.type === type && !p.disabled) return p as Extract<Provider, { type: T }>;
  return undefined;
}
