/**
 * The typed model of an exported App Services app. Raw files use snake_case; the model is camelCase.
 * Other packages (router, auth, mongodb, cli) code against these names.
 */

/** One thing wrong (or merely unusual) in the app directory. `file` is relative to the app dir. */
export interface ConfigProblem {
  file: string;
  field?: string;
  message: string;
}

export interface AppModel {
  /** Absolute path of the app directory. */
  dir: string;
  /** app_id from realm_config.json | root_config.json | config.json (legacy); fallback: name. */
  appId: string;
  name: string;
  /** "" when unset. */
  environment: string;
  /** environments/<tag>.json "values" (no-environment.json for ""). */
  environmentValues: Record<string, unknown>;
  /** Key = function name (may contain "/"). */
  functions: Map<string, FunctionDef>;
  values: Map<string, ValueDef>;
  /** From the secrets JSON file ({ "<name>": "<value>" }). */
  secrets: Map<string, string>;
  /** http_endpoints/config.json (newer exports: https_endpoints/config.json). */
  endpoints: EndpointDef[];
  /** http_endpoints/data_api_config.json */
  dataApi?: DataApiConfig;
  /** data_sources/<svc>/config.json (legacy: services/<svc> of type mongodb-atlas). */
  dataSources: DataSourceDef[];
  /** Legacy http_endpoints/<Service>/ (and legacy services/<svc> of type http). */
  httpServices: HttpServiceDef[];
  /** auth/providers.json (legacy: auth_providers/*.json), keyed by provider name. */
  authProviders: Record<string, AuthProviderDef>;
  /** auth/custom_user_data.json (legacy: config.json custom_user_data_config). */
  customUserData?: CustomUserDataConfig;
  /** Unknown fields and other oddities; never fatal. */
  warnings: ConfigProblem[];
}

export interface RunAs {
  runAsSystem?: boolean;
  runAsUserId?: string;
  runAsUserIdScriptSource?: string;
}

export interface FunctionDef extends RunAs {
  name: string;
  source: string;
  /** Path relative to the app dir, used in stack traces (e.g. "functions/utils/add.js"). */
  file: string;
  private: boolean;
  canEvaluate?: Expression;
  disableArgLogs?: boolean;
}

export interface ValueDef {
  name: string;
  /** The plain value; for from_secret values, the secret's string (already resolved). */
  value: unknown;
  fromSecret: boolean;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type ValidationMethod = "NO_VALIDATION" | "SECRET_AS_QUERY_PARAM" | "VERIFY_PAYLOAD";
export type ReturnType = "JSON" | "EJSON";

export interface EndpointDef extends RunAs {
  route: string;
  httpMethod: HttpMethod | "*";
  functionName: string;
  /** Also read from the "verification_method" alias. */
  validationMethod: ValidationMethod;
  secretName?: string;
  respondResult: boolean;
  fetchCustomUserData: boolean;
  createUserOnAuth: boolean;
  disabled: boolean;
  /** Default "JSON". */
  returnType: ReturnType;
  /** The endpoint's own, else the function's (resolved here). RunAs fields are resolved the same way. */
  canEvaluate?: Expression;
}

export interface DataApiConfig extends RunAs {
  disabled: boolean;
  versions: string[];
  returnType: ReturnType;
  createUserOnAuth: boolean;
  canEvaluate?: Expression;
  validationMethod: ValidationMethod;
  secretName?: string;
  fetchCustomUserData: boolean;
}

export interface DataSourceDef {
  name: string;
  type: string;
  config: Record<string, unknown>;
  /** Directory relative to the app dir (e.g. "data_sources/mongodb-atlas"). */
  dir: string;
  /** Key = "db.coll". */
  rules: Map<string, CollectionRules>;
  defaultRule?: { roles: Role[]; filters: Filter[] };
}

export interface CollectionRules {
  database: string;
  collection: string;
  roles: Role[];
  filters: Filter[];
}

export interface Role {
  name: string;
  apply_when?: Expression;
  document_filters?: { read?: Expression; write?: Expression };
  read?: Expression | boolean;
  write?: Expression | boolean;
  insert?: Expression | boolean;
  delete?: Expression | boolean;
  search?: Expression | boolean;
  fields?: Record<string, FieldPermission>;
  additional_fields?: { read?: Expression | boolean; write?: Expression | boolean };
}

export interface FieldPermission {
  read?: Expression | boolean;
  write?: Expression | boolean;
  fields?: Record<string, FieldPermission>;
}

export interface Filter {
  name: string;
  apply_when?: Expression;
  query?: Record<string, unknown>;
  projection?: Record<string, unknown>;
}

export type Expression = boolean | Record<string, unknown>;

export interface HttpServiceDef {
  name: string;
  rules: ServiceRule[];
  webhooks: WebhookDef[];
}

export interface ServiceRule {
  name: string;
  actions: string[];
  when: Expression;
}

export type WebhookHttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "ANY";

export interface WebhookDef extends RunAs {
  service: string;
  name: string;
  source: string;
  /** Path of source.js relative to the app dir. */
  file: string;
  canEvaluate?: Expression;
  runAsAuthedUser: boolean;
  fetchCustomUserData: boolean;
  createUserOnAuth: boolean;
  respondResult: boolean;
  httpMethod: WebhookHttpMethod;
  validationMethod: ValidationMethod;
  /** options.secret: the literal secret value (legacy webhooks store it inline). */
  secret?: string;
}

export interface AuthProviderDef {
  name: string;
  type: string;
  disabled: boolean;
  config: Record<string, unknown>;
  /** Raw secret_config: values are secret *names* (look them up in AppModel.secrets). */
  secretConfig: Record<string, unknown>;
  metadataFields: { required: boolean; name: string; fieldName: string }[];
}

export interface CustomUserDataConfig {
  enabled: boolean;
  mongoServiceName: string;
  databaseName: string;
  collectionName: string;
  userIdField: string;
  onUserCreationFunctionName?: string;
}
