/** The console's access token: generated, checked for strength when given, compared in constant time. */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A given token shorter than this is refused (a guessable token would guard the logs of every run). */
export const MIN_TOKEN_LENGTH = 16;

export function generateToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Why a given token is not acceptable, or undefined when it is. `source` names where it came from. */
export function tokenProblem(token: string, source: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `${source} must be at least ${MIN_TOKEN_LENGTH} characters (got ${token.length})`;
  // It travels in a URL, a cookie and a header: keep to characters that need no escaping in any of them.
  if (!/^[A-Za-z0-9._~-]+$/.test(token)) return `${source} may contain only letters, digits and . _ ~ -`;
  return undefined;
}

/**
 * Returns a function that tells whether a presented token is the right one. Both sides are hashed
 * first so the comparison is constant-time whatever the presented length.
 */
export function tokenChecker(token: string): (presented: string | undefined) => boolean {
  const expected = createHash("sha256").update(token).digest();
  return (presented) => {
    if (presented === undefined || presented === "") return false;
    return timingSafeEqual(createHash("sha256").update(presented).digest(), expected);
  };
}
