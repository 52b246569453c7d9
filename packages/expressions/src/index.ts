export type { Expression, ExpressionContext } from "./context.js";
export { ExpressionError } from "./errors.js";
export { evaluate, fieldMatches } from "./evaluate.js";
export { expand, resolveExpansion } from "./expand.js";
export { bsonEquals, bsonCompare, isPlainObject } from "./bson.js";
export { dependsOnDocument } from "./analyze.js";
