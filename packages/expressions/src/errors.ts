/** A malformed expression (unknown operator or expansion, wrong operand type). The message names the key at fault. */
export class ExpressionError extends Error {
  override readonly name = "ExpressionError";
}

/**
 * A %function call that threw. Internal: evaluate() turns it into `false` (spec §3, C104); expand() lets it
 * through so a caller that needs a value (a filter query) fails instead of running a wrong query.
 */
export class FunctionCallFailed extends Error {
  override readonly name = "FunctionCallFailed";
  constructor(
    readonly functionName: string,
    cause: unknown,
  ) {
    super(`%function '${functionName}' threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
