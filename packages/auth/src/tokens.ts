/**
 * Access and refresh tokens (spec §6, C145): HS256 JWTs signed with the app's own key.
 */
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { createSecretKey, type KeyObject } from "node:crypto";
import type { UserIdentity } from "./types.js";

export const ACCESS_TOKEN_SECONDS = 30 * 60;
export const REFRESH_TOKEN_SECONDS = 60 * 24 * 60 * 60;
/** App Services anonymous refresh tokens "effectively never expire"; five years is the configurable maximum. */
export const ANON_REFRESH_TOKEN_SECONDS = 5 * 365 * 24 * 60 * 60;

export interface AccessClaims {
  typ: "access";
  sub: string;
  /** Session id (App Services puts it in iss). */
  iss: string;
  iat: number;
  exp: number;
}

export interface RefreshClaims {
  typ: "refresh";
  sub: string;
  baas_id: string;
  iat: number;
  exp: number;
}

export interface TokenInput {
  userId: string;
  sessionId: string;
  deviceId: string;
  appId: string;
  identity: UserIdentity;
  userData: Record<string, unknown>;
}

export class TokenSigner {
  /** Imported once: handing jose raw bytes re-imports the key on every sign and verify. */
  private readonly key: KeyObject;

  constructor(
    key: Uint8Array,
    private readonly now: () => number,
  ) {
    this.key = createSecretKey(key);
  }

  private seconds(): number {
    return Math.floor(this.now() / 1000);
  }

  access(input: TokenInput): Promise<string> {
    const iat = this.seconds();
    return new SignJWT({
      typ: "access",
      baas_device_id: input.deviceId,
      baas_domain_id: input.appId,
      stitch_devId: input.deviceId,
      stitch_domainId: input.appId,
      user_data: input.userData,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(input.userId)
      .setIssuer(input.sessionId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_SECONDS)
      .sign(this.key);
  }

  refresh(input: TokenInput, lifetimeSeconds: number): Promise<string> {
    const iat = this.seconds();
    const identity = { id: input.identity.id, provider_type: input.identity.provider_type, provider_id: input.identity.provider_id };
    return new SignJWT({
      typ: "refresh",
      baas_domain_id: input.appId,
      baas_id: input.sessionId,
      stitch_id: input.sessionId,
      baas_identity: identity,
      stitch_ident: identity,
      baas_data: null,
      stitch_data: null,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setSubject(input.userId)
      .setIssuedAt(iat)
      .setExpirationTime(iat + lifetimeSeconds)
      .sign(this.key);
  }

  /** The claims, or null for any token that is malformed, forged, expired or of the other type. */
  async verify(token: string, typ: "access"): Promise<AccessClaims | null>;
  async verify(token: string, typ: "refresh"): Promise<RefreshClaims | null>;
  async verify(token: string, typ: "access" | "refresh"): Promise<AccessClaims | RefreshClaims | null> {
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ["HS256"],
        currentDate: new Date(this.now()),
      });
      if (payload.typ !== typ || typeof payload.sub !== "string") return null;
      if (typ === "access") return typeof payload.iss === "string" ? (payload as unknown as AccessClaims) : null;
      return typeof payload.baas_id === "string" ? (payload as unknown as RefreshClaims) : null;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) return null;
      throw err;
    }
  }
}

/** The bearer token of an Authorization header value, or undefined. */
export function bearerToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(value);
  return m?.[1];
}
