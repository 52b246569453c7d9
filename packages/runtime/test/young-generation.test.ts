import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { youngGenerationFlags } from "../src/young-generation.js";

// A call that churns short-lived objects, in a runtime whose process was started with `flags`: the
// committed heap of the app's isolate afterwards (MB), and the host's new space (MB).
const churn = (flags: string[]) => {
  const script = `
    import { createRuntime } from ${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)};
    import { getHeapSpaceStatistics } from "node:v8";
    const runtime = createRuntime({ pool: { warmIsolates: 0 } });
    const app = runtime.app({ id: "churn", functions: { run: { source:
      "exports = () => { let k = []; for (let i = 0; i < 3e6; i++) { k.push({ i, s: 'a' + i }); if (k.length > 100000) k = []; } return k.length; };" } } });
    const r = await app.call({ functionName: "run", args: [] });
    if (!r.ok) throw new Error(JSON.stringify(r.error));
    let keep = [];
    for (let i = 0; i < 5e6; i++) { keep.push({ i }); if (keep.length > 200000) keep = []; }
    const newSpace = getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
    console.log(JSON.stringify({ isolateMb: app.stats().heapBytes / 1048576, hostNewSpaceMb: newSpace / 1048576 }));
    await runtime.close();`;
  const out = execFileSync(process.execPath, ["--no-node-snapshot", ...flags, "--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return JSON.parse(out.trim().split("\n").at(-1)!) as { isolateMb: number; hostNewSpaceMb: number };
};

describe("the host's young-generation flags stay out of the isolates", () => {
  it("reads them from the command line in both spellings, and nothing else", () => {
    expect(youngGenerationFlags(["--max-semi-space-size=16", "--stack-size=900", "--min_semi_space_size", "4", "app.js"])).toEqual([
      "--max-semi-space-size=16",
      "--min-semi-space-size=4",
    ]);
    expect(youngGenerationFlags(["--max-old-space-size=512", "--semi-space-growth-factor=2"])).toEqual([]);
  });

  it("an isolate's heap stays small when the process was started with a large young generation, and the host keeps the flags", () => {
    const plain = churn([]);
    const small = churn(["--max-semi-space-size=4"]);
    const big = churn(["--min-semi-space-size=64", "--max-semi-space-size=64"]);
    // Without the shield the isolate of `big` commits its 64 MB semi-spaces (measured: 100+ MB); with it,
    // 6-23 MB like the plain one, depending on when its last collection ran.
    for (const r of [plain, small, big]) expect(r.isolateMb).toBeLessThan(40);
    // The host's heap still has what it was started with: new space capped at 2 x 4 MB, and 2 x 64 MB.
    expect(small.hostNewSpaceMb).toBeLessThanOrEqual(8);
    expect(big.hostNewSpaceMb).toBe(128);
    expect(plain.hostNewSpaceMb).toBeGreaterThan(8);
  }, 60_000);
});
