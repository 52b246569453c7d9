/**
 * One error type for every refusal auth gives, carrying the App Services status and error_code.
 * Messages never contain a password, hash, key or token.
 */
export class AuthError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
    this.name = "AuthError";
  }

  toBody(): { error: string; error_code: string } {
    return { error: this.message, error_code: this.errorCode };
  }
}

// Exact strings clients match on (spec §5.7, §6).
export const MSG_NO_AUTH = "no authentication methods were specified";
export const MSG_PARTIAL_AUTH =
  "must specify some form of authentication (either email+password, api-key, or jwt) in the request header or body";
export const MSG_ENDPOINT_USER = "invalid session: error finding user for endpoint";

export const invalidSession = (message = "invalid session") => new AuthError(401, "InvalidSession", message);
export const badRequest = (message: string) => new AuthError(400, "InvalidParameter", message);
export const missingParameter = (message: string) => new AuthError(400, "MissingParameter", message);
export const providerUnsupported = (provider: string) =>
  new AuthError(401, "AuthProviderNotFound", `authentication via '${provider}' is unsupported`);
export const tooManyAttempts = () =>
  new AuthError(429, "TooManyRequests", "too many failed authentication attempts; try again later");

/** True when a store error is a unique-index violation (both backends map it to code "DuplicateKey"). */
export function isDuplicateKey(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const code = (err as { code?: unknown }).code;
  return code === "DuplicateKey" || code === 11000;
}
