/** An expression as stored in the app's JSON files: `true`, `false` or an object whose keys are ANDed. */
export type Expression = boolean | Record<string, unknown>;

/** Everything the %% expansions can reach. Absent parts behave as empty (their expansions are undefined). */
export interface ExpressionContext {
  /** context.user shape: {id, type, data, custom_data, identities}. */
  user?: Record<string, unknown>;
  /** context.request shape; requestHeaders maps a name to string[] and is matched case-insensitively. */
  request?: Record<string, unknown>;
  /** context.values.get(name). */
  values?: (name: string) => unknown;
  environment?: { tag: string; values: Record<string, unknown> };
  /** MongoDB rules: the document (after the write, for writes) and the document before the write. */
  root?: Record<string, unknown>;
  prevRoot?: Record<string, unknown>;
  /** Field-level rules: the field's value now and before the write. Default to root / prevRoot. */
  this?: unknown;
  prev?: unknown;
  /** Service rules: the action's argument document. */
  args?: Record<string, unknown>;
  /** Runs an app function for %function (tenant code runs in an isolate; the host supplies this). */
  callFunction?: (name: string, args: unknown[]) => Promise<unknown>;
  /** What a plain field name means: %%root.<name> (MongoDB rules) or %%args.<name> (service rules). */
  plainKeysRefer?: "root" | "args";
}
