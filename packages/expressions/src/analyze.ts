/** Static analysis that lets hosts skip per-document work. */
import { isPlainObject } from "./bson.js";

const DOCUMENT_EXPANSION = /^%%(root|prevRoot|this|prev)(\.|$)/;

/**
 * Could `expression` read the document (%%root, %%prevRoot, %%this, %%prev or a plain field name)?
 * Conservative: any plain key anywhere counts, even inside a literal, so `false` is always safe to trust.
 */
export function dependsOnDocument(expression: unknown): boolean {
  if (typeof expression === "string") return DOCUMENT_EXPANSION.test(expression);
  if (Array.isArray(expression)) return expression.some(dependsOnDocument);
  if (!isPlainObject(expression)) return false;
  for (const [key, value] of Object.entries(expression)) {
    if (DOCUMENT_EXPANSION.test(key)) return true;
    if (key === "%function") {
      // {name, arguments}: only the arguments can carry expansions.
      if (dependsOnDocument(isPlainObject(value) ? value.arguments : value)) return true;
      continue;
    }
    if (!key.startsWith("%") && !key.startsWith("$")) return true;
    if (dependsOnDocument(value)) return true;
  }
  return false;
}
