/**
 * Request validation (spec §5.5): SECRET_AS_QUERY_PARAM and VERIFY_PAYLOAD. Runs before anything else
 * touches the request, so a refused request never reaches the function. Comparisons are constant-time.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { ValidationMethod } from "@restitch/config";
import { errors, HttpError } from "./errors.js";

/** Compares two strings without leaking, through timing, how many leading bytes matched or the length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}

/** `sha256=<hex>` -> hex. Lenient with the leading ":" of the seed's curl (`Endpoint-Signature::sha256=…`). */
export function parseSignatureHeader(value: string): string | undefined {
  const v = value.replace(/^[\s:]+/, "").trim();
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(v);
  return m ? m[1]!.toLowerCase() : undefined;
}

/** HMAC-SHA256 of the raw body bytes (never a re-serialization: C34/C35), hex. */
export function payloadSignature(secret: string, body: Uint8Array | undefined): string {
  return createHmac("sha256", secret)
    .update(body ?? new Uint8Array(0))
    .digest("hex");
}

export interface ValidationInput {
  method: ValidationMethod;
  /** The endpoint's secret_name, for error messages. */
  secretName: string | undefined;
  /** The secret's value from the secrets file; undefined when it was not provided. */
  secret: string | undefined;
  querySecret: string | undefined;
  signatureHeader: string | undefined;
  body: Uint8Array | undefined;
  /** "Endpoint-Signature" for endpoints, "X-Hook-Signature" for legacy webhooks. */
  signatureHeaderName: string;
}

/** Throws an HttpError when the request does not pass the endpoint's validation method. */
export function validateRequest(v: ValidationInput): void {
  if (v.method === "NO_VALIDATION") return;
  if (v.secret === undefined) {
    throw new HttpError(
      500,
      "InternalServerError",
      `the validation secret '${v.secretName ?? ""}' of this endpoint is not set (provide it in the secrets file)`,
    );
  }
  if (v.method === "SECRET_AS_QUERY_PARAM") {
    if (v.querySecret === undefined) throw errors.validationFailed("expected a 'secret' query parameter");
    if (!constantTimeEqual(v.querySecret, v.secret)) throw errors.validationFailed("invalid secret");
    return;
  }
  // VERIFY_PAYLOAD
  if (v.signatureHeader === undefined) throw errors.validationFailed(`expected a '${v.signatureHeaderName}' header`);
  const given = parseSignatureHeader(v.signatureHeader);
  if (given === undefined) throw errors.validationFailed(`'${v.signatureHeaderName}' must be 'sha256=<64 hex digits>'`);
  if (!constantTimeEqual(given, payloadSignature(v.secret, v.body))) {
    throw errors.validationFailed("payload signature does not match the request body");
  }
}
