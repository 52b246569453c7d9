/** Static analysis that lets hosts skip per-document work. */
import { isPlainObject } from "./bson.js";
import { deeperThan, MAX_NESTING } from "./expand.js";

const DOCUMENT_EXPANSION = /^%%(root|prevRoot|this|prev)(\.|$)/;

/**
 * Could `expression` read the document (%%root, %%prevRoot, %%this, %%prev or a plain field name)?
 * Conservative: any plain key anywhere counts, even inside a literal, so `false` is always safe to trust.
 */
export function dependsOnDocument(expression: unknown): boolean {
  // Too deep to walk safely (evaluate refuses it anyway): "may depend" is the safe answer.
  return deeperThan(expression, MAX_NESTING) || mayReadDocument(expression);
}

function mayReadDocument(expression: unknown): boolean {
  if (typeof expression === "string") return DOCUMENT_EXPANSION.test(expression);
  if (Array.isArray(expression)) return expression.some(mayReadDocument);
  if (!isPlainObject(expression)) return false;
  for (const [key, value] of Object.entries(expression)) {
    if (DOCUMENT_EXPANSION.test(key)) return true;
    if (key === "%function") {
      // {name, arguments}: only the arguments can carry expansions.
      if (mayReadDocument(isPlainObject(value) ? value.arguments : value)) return true;
      continue;
    }
    if (!key.startsWith("%") && !key.startsWith("$")) return true;
    if (mayReadDocument(value)) return true;
  }
  return false;
}
