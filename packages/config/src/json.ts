/**
 * JSON reading with precise, content-free error messages. V8's own JSON.parse messages quote a
 * snippet of the input, which for secrets.json would leak secret values, and do not always carry a
 * position; so on failure a small scanner re-reads the text to find the exact line:column.
 */

export class JsonSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(`invalid JSON at ${line}:${column}: ${reason}`);
  }
}

export function parseJson(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // tolerate a UTF-8 BOM
  try {
    return JSON.parse(body);
  } catch {
    const { pos, reason } = locateJsonError(body);
    const { line, column } = lineColumn(body, pos);
    throw new JsonSyntaxError(line, column, reason);
  }
}

function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}

const MAX_SCAN_DEPTH = 1_000;

/** Scans `text` as strict JSON and returns where and why it first fails. */
function locateJsonError(text: string): { pos: number; reason: string } {
  let i = 0;
  let depth = 0;
  class Fail {
    constructor(
      readonly pos: number,
      readonly reason: string,
    ) {}
  }
  const fail = (reason: string, pos = i): never => {
    throw new Fail(pos, reason);
  };
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const describe = () => (i >= text.length ? "unexpected end of input" : "unexpected character");
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else fail(describe());
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 0x20) fail("control character in string (newlines must be written \\n)");
      if (c === 92) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail("bad \\u escape in string");
          i += 6;
        } else if (e !== undefined && "\"\\/bfnrt".includes(e)) i += 2;
        else fail("bad escape in string");
      } else i++;
    }
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m || m[0] === "" || m[0] === "-") fail("bad number");
    i += m![0].length;
  };
  /** An object or array body after its opening bracket: items separated by commas up to `close`. */
  const container = (close: "}" | "]", item: () => void) => {
    // The scanner recurses per level; past this depth it says so instead of overflowing the stack.
    if (++depth > MAX_SCAN_DEPTH) fail(`nested deeper than ${MAX_SCAN_DEPTH} levels`);
    i++;
    ws();
    if (text[i] === close) {
      i++;
      depth--;
      return;
    }
    for (;;) {
      ws();
      if (text[i] === close) fail(`trailing comma before '${close}'`);
      item();
      ws();
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === close) {
        i++;
        depth--;
        return;
      }
      fail(i >= text.length ? `unexpected end of input, expected ',' or '${close}'` : `expected ',' or '${close}'`);
    }
  };
  const member = () => {
    if (text[i] !== '"') fail("expected a property name in double quotes");
    string();
    ws();
    if (text[i] !== ":") fail("expected ':' after property name");
    i++;
    value();
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === "{") return container("}", member);
    if (c === "[") return container("]", value);
    if (c === '"') return string();
    if (c === "t") return literal("true");
    if (c === "f") return literal("false");
    if (c === "n") return literal("null");
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) return number();
    fail(i >= text.length ? "unexpected end of input, expected a value" : "expected a value (string, number, object, array, true, false or null)");
  };
  try {
    value();
    ws();
    if (i < text.length) fail("unexpected content after the JSON value");
  } catch (e) {
    if (e instanceof Fail) return { pos: e.pos, reason: e.reason };
    throw e;
  }
  // JSON.parse rejected what the scanner accepts: should not happen; report the start.
  return { pos: 0, reason: "not valid JSON" };
}
