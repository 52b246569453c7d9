export { createAuth, type RestitchAuthService } from "./service.js";
export type {
  AppUser,
  UserIdentity,
  AuthService,
  AuthResult,
  AuthenticateInput,
  CreateAuthOptions,
  AuthApp,
  AuthStore,
  StoreOperation,
  AuthProviderInput,
  CustomUserDataInput,
} from "./types.js";
export { AuthError } from "./errors.js";
export { AuthConfigError, parseProviders, type Provider } from "./providers.js";
export { hashPassword, verifyPassword, generateApiKey, hashApiKey } from "./secrets.js";
export { ACCESS_TOKEN_SECONDS, REFRESH_TOKEN_SECONDS } from "./tokens.js";
export { SERVER_KEY_PREFIX } from "./logins.js";
