/**
 * The one error shape every server-generated error uses: {"error": msg, "error_code": Code}. The
 * statuses and codes are tabled in docs/errors.md; tenant stacks never appear here.
 */
import type { CallError } from "@restitch/runtime";
import { replyToResponse, type Reply } from "./reply.js";

export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: message, error_code: code });
}

/** An HttpError as plain data (see reply.ts for how it is sent). */
export function errorReply(err: HttpError): Reply {
  const headers: Record<string, string> = { "content-type": "application/json", ...err.headers };
  return { status: err.status, headers, body: errorBody(err.code, err.message) };
}

/** errorReply as a WHATWG Response (Hono routes, fetch hosts). */
export function errorResponse(err: HttpError): Response {
  return replyToResponse(errorReply(err));
}

/** Constructors for the errors the router raises itself, so status and code stay consistent. */
export const errors = {
  appNotFound: (appId: string) => new HttpError(404, "AppNotFound", `cannot find app using Client App ID '${appId}'`),
  endpointNotFound: (route: string) => new HttpError(404, "EndpointNotFound", `no endpoint found for route '${route}'`),
  endpointDisabled: (route: string) => new HttpError(404, "EndpointDisabled", `endpoint '${route}' is disabled`),
  methodNotAllowed: (route: string, method: string, allow: string[]) =>
    new HttpError(405, "MethodNotAllowed", `endpoint '${route}' does not accept ${method} (allowed: ${allow.join(", ")})`, {
      allow: allow.join(", "),
    }),
  // The unread rest of the body makes the connection unusable: tell the client not to reuse it.
  bodyTooLarge: (max: number) =>
    new HttpError(413, "RequestTooLarge", `request body exceeds the limit of ${max} bytes`, { connection: "close" }),
  tooManyHeaders: (max: number) => new HttpError(431, "RequestHeadersTooLarge", `request has more than ${max} headers`),
  validationFailed: (message: string) => new HttpError(401, "InvalidValidation", message),
  canEvaluateFailed: (fn: string) =>
    new HttpError(403, "FunctionNotAllowed", `rule not matched: can_evaluate denied the request for function '${fn}'`),
  authUnavailable: () =>
    new HttpError(401, "InvalidSession", "this endpoint needs application authentication, which is not configured on this server"),
  badRunAs: (message: string) => new HttpError(500, "InternalServerError", message),
  internal: () => new HttpError(500, "InternalServerError", "internal server error"),
};

/** A tenant fault (or a runtime refusal) as the HTTP error the caller sees. Only the message crosses. */
export function callErrorToHttp(error: CallError): HttpError {
  switch (error.kind) {
    case "timeout":
    case "cpu":
      return new HttpError(400, "ExecutionTimeLimitExceeded", "execution time limit exceeded");
    case "overloaded":
      return new HttpError(429, "TooManyRequests", "too many requests: the app's function pool is full, retry later");
    case "not-found":
      return new HttpError(404, "FunctionNotFound", error.message);
    case "crashed":
      return new HttpError(500, "FunctionExecutionError", "function execution crashed; the worker was replaced");
    case "closed":
      return new HttpError(503, "ServiceUnavailable", "the server is shutting down");
    default:
      // threw, syntax, no-export, memory, host-calls, result-size, unserializable
      return new HttpError(400, "FunctionExecutionError", error.message);
  }
}
