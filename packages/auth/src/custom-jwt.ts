/**
 * Custom JWT authentication (custom-token provider, spec §6, C142–C144): signature with one of the
 * configured keys, exp/aud checks, metadata_fields copied into user data.
 */
import { createRemoteJWKSet, jwtVerify, errors as joseErrors, type JWTPayload } from "jose";
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { AuthError } from "./errors.js";
import type { MetadataField, Provider } from "./providers.js";

type CustomTokenProvider = Extract<Provider, { type: "custom-token" }>;

export const MAX_JWT_LENGTH = 1_000_000;
const MAX_METADATA_VALUE = 4096;

/** A refusal of the external token; the message says why without echoing the token. */
const invalidToken = (why: string) => new AuthError(401, "InvalidSession", `invalid custom auth token: ${why}`);

export interface VerifiedToken {
  sub: string;
  data: Record<string, unknown>;
}

export class CustomJwtVerifier {
  private keys: Promise<KeyObject[]>;
  private jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  constructor(
    private readonly provider: CustomTokenProvider,
    private readonly appId: string,
    private readonly now: () => number,
  ) {
    this.keys = Promise.all(
      provider.keys.map(async (k) =>
        // RS256 keys are PEM public keys (SPKI, PKCS#1 or a certificate: node reads all three).
        provider.algorithm === "HS256" ? createSecretKey(Buffer.from(k, "utf8")) : createPublicKey(k),
      ),
    );
    // Fail late (at login) rather than crash on an unparseable PEM; record the rejection as handled.
    this.keys.catch(() => undefined);
    if (provider.jwkUri) this.jwks = createRemoteJWKSet(new URL(provider.jwkUri));
  }

  async verify(token: unknown): Promise<VerifiedToken> {
    if (typeof token !== "string" || token.length === 0) throw invalidToken("no token was given");
    if (token.length > MAX_JWT_LENGTH) throw invalidToken(`longer than ${MAX_JWT_LENGTH} characters`);
    const payload = await this.checkSignature(token);
    if (typeof payload.sub !== "string" || !payload.sub) throw invalidToken("'sub' is required");
    if (typeof payload.exp !== "number") throw invalidToken("'exp' is required");
    this.checkAudience(payload.aud);
    return { sub: payload.sub, data: extractMetadata(payload, this.provider.metadataFields) };
  }

  private async checkSignature(token: string): Promise<JWTPayload> {
    const options = { algorithms: [this.provider.algorithm], currentDate: new Date(this.now()) };
    let lastError: unknown;
    if (this.jwks) {
      try {
        return (await jwtVerify(token, this.jwks, options)).payload;
      } catch (err) {
        lastError = err;
      }
    }
    let keys: KeyObject[];
    try {
      keys = await this.keys;
    } catch {
      throw new AuthError(500, "InternalServerError", `custom-token provider '${this.provider.name}': a signing key is not a valid public key PEM`);
    }
    // Up to three keys are configured so they can be rotated; any one may have signed the token.
    for (const key of keys) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (err) {
        lastError = err;
        if (!(err instanceof joseErrors.JWSSignatureVerificationFailed)) break;
      }
    }
    if (lastError instanceof joseErrors.JWTExpired) throw invalidToken("token is expired");
    if (lastError instanceof joseErrors.JWTClaimValidationFailed) throw invalidToken(`claim '${lastError.claim}' is invalid`);
    if (lastError instanceof joseErrors.JOSEAlgNotAllowed) throw invalidToken(`algorithm must be ${this.provider.algorithm}`);
    throw invalidToken("signature is invalid or the token is malformed");
  }

  private checkAudience(aud: JWTPayload["aud"]): void {
    const got = aud === undefined ? [] : Array.isArray(aud) ? aud : [aud];
    if (got.length === 0) throw invalidToken("'aud' is required");
    const want = this.provider.audience;
    if (want.length === 0) {
      if (!got.includes(this.appId)) throw invalidToken("'aud' must be the app id");
    } else if (this.provider.requireAnyAudience) {
      if (!want.some((a) => got.includes(a))) throw invalidToken("'aud' matches none of the configured audiences");
    } else if (!want.every((a) => got.includes(a))) throw invalidToken("'aud' must contain every configured audience");
  }
}

/** Copies metadata_fields from a payload (or a custom-function result) into user data. */
export function extractMetadata(source: Record<string, unknown>, fields: MetadataField[]): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const f of fields) {
    let v: unknown = source;
    for (const seg of f.path) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[seg] : undefined;
    if (v === undefined || v === null) {
      if (f.required) throw invalidToken(`required metadata field '${f.path.join(".")}' is missing`);
      continue;
    }
    const size = typeof v === "string" ? v.length : JSON.stringify(v).length;
    if (size > MAX_METADATA_VALUE) throw invalidToken(`metadata field '${f.path.join(".")}' is longer than ${MAX_METADATA_VALUE} characters`);
    data[f.fieldName] = v;
  }
  return data;
}
