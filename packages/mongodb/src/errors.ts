/**
 * One error type for every data-source failure, with codes that are the same on both backends for the
 * same situation (the driver's server errors are mapped onto these in driver.ts).
 */
export type DataServiceErrorCode =
  | "DuplicateKey" // a unique index (including _id) would get a second equal key
  | "BadQuery" // malformed filter, projection, sort, update or pipeline (e.g. an unknown operator)
  | "InvalidOperation" // well-formed but not allowed on this data (e.g. modifying _id)
  | "InvalidParameter" // an argument has the wrong type or shape (names the argument)
  | "Forbidden" // refused by the guard: server-side JavaScript, admin stages, system namespaces
  | "NoMatchingRuleFound" // a non-system caller reached a namespace with no rules
  | "Unsupported" // valid MongoDB that this backend cannot run (named in the message)
  | "MaxTimeMSExpired" // the operation ran past its time limit (embedded: operationTimeMs; MongoDB: maxTimeMS)
  | "ExceededMemoryLimit" // the operation needed more memory than its limit (embedded: operationMemoryMb)
  | "Internal"; // anything else (storage failure, lost connection)

export class DataServiceError extends Error {
  override readonly name = "DataServiceError";
  readonly code: DataServiceErrorCode;
  constructor(code: DataServiceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isDataServiceError(e: unknown): e is DataServiceError {
  return e instanceof DataServiceError;
}
