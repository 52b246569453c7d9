/**
 * Scrubs credentials out of free text before it is logged: tenant console output, error messages and
 * stacks, readiness failures. Records are built from chosen fields (never headers, bodies or query
 * strings), so free text is where a secret can slip in: a tenant logging its request, a driver error
 * quoting a connection string.
 */

export const REDACTED = "[redacted]";

/** Field names whose values are credentials, wherever they appear as `name: value` / `name=value`. */
const CREDENTIAL_NAMES = String.raw`authorization|proxy-authorization|api[-_]?key|apikey|password|passwd|pwd|secret|client[-_]?secret|(?:access|refresh|id|auth|session|bearer)?[-_]?token|cookie|set-cookie|private[-_]?key`;

const PATTERNS: [RegExp, string][] = [
  // `"password": "x"`, `password: 'x'`, `apiKey=x`, `Authorization: Basic x`, `"Cookie": ["a", "b"]`
  // (headers as context.request holds them): keep the name, drop the value.
  [
    new RegExp(
      String.raw`(["']?\b[\w-]*?(?:${CREDENTIAL_NAMES})["']?\s*[:=]\s*)(?:\[\s*(?:"(?:[^"\\]|\\.)*"\s*,?\s*)*\]|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|(?:Basic|Bearer|Digest)\s+[^\s,;'"&}\]]+|[^\s,;'"&}\]]+)`,
      "gi",
    ),
    `$1${REDACTED}`,
  ],
  // A bearer credential wherever it appears.
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, `Bearer ${REDACTED}`],
  // JWTs (App Services access and refresh tokens are JWTs).
  [/\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, REDACTED],
  // user:password@ in URLs (mongodb://user:pass@host).
  [/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, `$1${REDACTED}@`],
];

/** Secrets shorter than this are not scrubbed by value (a 1-3 character "secret" would scrub everything). */
const MIN_SECRET_LENGTH = 4;

export type Redactor = (text: string) => string;

/**
 * A function that removes the given secret values (e.g. an app's secrets.json values) and anything
 * shaped like a credential from a string.
 */
export function createRedactor(secretValues: Iterable<string> = []): Redactor {
  const values = [...new Set([...secretValues].filter((v) => typeof v === "string" && v.length >= MIN_SECRET_LENGTH))];
  // Longest first, so a secret that contains another is removed whole.
  values.sort((a, b) => b.length - a.length);
  const bySecret = values.length ? new RegExp(values.map(escapeRegExp).join("|"), "g") : undefined;
  return (text) => {
    let out = bySecret ? text.replace(bySecret, REDACTED) : text;
    for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
    return out;
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
