// The embedded store runs regular expressions in the server process: which ones it refuses (see
// src/embedded/regex.ts), and that a catastrophic one it accepts finishes at once.
import { describe, expect, it } from "vitest";
import { createEmbeddedDataService } from "../src/embedded/index.js";
import { backtrackingOnly } from "../src/embedded/regex.js";

describe("regular expressions on the embedded store", () => {
  it("finds backreferences and lookarounds, not escaped backslashes or brackets", () => {
    expect(backtrackingOnly("^(a|a)*\\1$")).toBe("a backreference");
    expect(backtrackingOnly("(?<x>a)\\k<x>")).toBe("a backreference");
    expect(backtrackingOnly("a(?=b)")).toBe("a lookaround");
    expect(backtrackingOnly("(?<!a)b")).toBe("a lookaround");
    expect(backtrackingOnly("^\\\\1$")).toBeUndefined(); // a literal backslash, then 1
    expect(backtrackingOnly("[(?=]x")).toBeUndefined(); // inside a class
    expect(backtrackingOnly("^(a+)+$")).toBeUndefined();
    expect(backtrackingOnly("(?:ab)+")).toBeUndefined();
  });

  it("refuses them in filters, updates and pipelines; runs a catastrophic one without backtracking", async () => {
    const s = await createEmbeddedDataService({ name: "regex-test" });
    const ns = { database: "d", collection: "c" };
    await s.execute({ ...ns, kind: "insertOne", document: { _id: 1, s: "a".repeat(40) + "!" } });
    await expect(s.execute({ ...ns, kind: "find", filter: { s: /^(a|a)*\1$/ } })).rejects.toMatchObject({ code: "Unsupported", message: expect.stringMatching(/^filter: .*a backreference/) });
    await expect(s.execute({ ...ns, kind: "find", filter: { s: { $in: [/x(?=y)/] } } })).rejects.toMatchObject({ code: "Unsupported" });
    await expect(s.execute({ ...ns, kind: "aggregate", pipeline: [{ $match: { $expr: { $regexMatch: { input: "$s", regex: "(a)\\1" } } } }] })).rejects.toMatchObject({ code: "Unsupported" });
    await expect(s.execute({ ...ns, kind: "updateMany", filter: {}, update: { $pull: { tags: { $regex: "(?!a)" } } }, upsert: false })).rejects.toMatchObject({ code: "Unsupported" });
    const started = performance.now();
    expect(await s.execute({ ...ns, kind: "find", filter: { s: { $regex: "^(a+)+$" } } })).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000); // backtracking would take hours
    await s.close();
  });
});
