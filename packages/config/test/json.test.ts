import { describe, expect, it } from "vitest";
import { JsonSyntaxError, parseJson } from "../src/json.js";

const failure = (text: string) => {
  try {
    parseJson(text);
  } catch (e) {
    expect(e).toBeInstanceOf(JsonSyntaxError);
    const { line, column, reason } = e as JsonSyntaxError;
    return `${line}:${column} ${reason}`;
  }
  throw new Error(`parsed: ${text}`);
};

describe("parseJson", () => {
  it("parses valid JSON, tolerating a UTF-8 BOM", () => {
    expect(parseJson('\uFEFF{"a":[1,"x",null,true]}')).toEqual({ a: [1, "x", null, true] });
  });

  it("locates each kind of syntax error by line and column, without quoting the input", () => {
    expect(failure('[1,\n 2,\n]')).toBe("3:1 trailing comma before ']'");
    expect(failure('{"a": "unterminated')).toBe("1:20 unterminated string");
    expect(failure('{"a": "bad \\q escape"}')).toBe("1:12 bad escape in string");
    expect(failure('{"a": "line\nbreak"}')).toBe("1:12 control character in string (newlines must be written \\n)");
    expect(failure("{a: 1}")).toBe("1:2 expected a property name in double quotes");
    expect(failure('{"a" 1}')).toBe("1:6 expected ':' after property name");
    expect(failure("{} {}")).toBe("1:4 unexpected content after the JSON value");
    expect(failure('{"a": tru}')).toBe("1:7 unexpected character");
    expect(failure('{"a": 01}')).toBe("1:8 expected ',' or '}'");
    expect(failure("")).toBe("1:1 unexpected end of input, expected a value");
    expect(failure('{"a": [1')).toBe("1:9 unexpected end of input, expected ',' or ']'");
  });

  it("reports broken JSON nested deeper than the scanner's 1000 levels without overflowing the stack (found by test/fuzz)", () => {
    expect(failure("[".repeat(200_000))).toBe("1:1001 nested deeper than 1000 levels");
    expect(failure("[".repeat(500) + "]".repeat(499))).toBe("1:1000 unexpected end of input, expected ',' or ']'");
  });
});
