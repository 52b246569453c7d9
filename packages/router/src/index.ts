export { createServer, DEFAULT_SERVER_LIMITS } from "./server.js";
export type { CreateServerOptions, RestitchServer, Listening, ServerLimits, CallLogEntry, CallKind } from "./server.js";
export { appContext, appDefinition, hostBridge, systemIdentity, userIdentity } from "./bridge.js";
export type { AppContext, Identity, ServiceProvider } from "./bridge.js";
export type { RequestAuthenticator } from "./identity.js";
export { serialize, toJsonText, toEjsonText, SerializationError, type ResponseFormat } from "./serialize.js";
export { HttpError, errors, callErrorToHttp } from "./errors.js";
export { payloadSignature, parseSignatureHeader } from "./validation.js";
export { appIdOfTarget, buildRouteTable, matchEndpoint, normalizeRoute } from "./routes.js";
