import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { widenTimerSlack } from "../src/timer-slack.js";
import { createRuntime } from "../src/index.js";

const slackUs = () => Number(readFileSync("/proc/self/timerslack_ns", "utf8")) / 1000;

describe.runIf(process.platform === "linux")("timer slack (isolated-vm's timeout timers wake once per interval)", () => {
  it("widens the main thread's slack, never narrows it, and 0 leaves it alone", () => {
    const before = slackUs();
    expect(widenTimerSlack(before + 1000)).toBe(before + 1000);
    expect(slackUs()).toBe(before + 1000);
    expect(widenTimerSlack(1)).toBe(before + 1000);
    expect(slackUs()).toBe(before + 1000);
    expect(widenTimerSlack(0)).toBeUndefined();
    expect(slackUs()).toBe(before + 1000);
  });

  it("createRuntime widens it to pool.timerSlackUs", async () => {
    const target = slackUs() + 500;
    const runtime = createRuntime({ pool: { timerSlackUs: target } });
    expect(slackUs()).toBe(target);
    await runtime.close();
  });

  it("does nothing off the main thread (a thread may only set its own slack)", async () => {
    const url = new URL("../dist/timer-slack.js", import.meta.url).href;
    const worker = new Worker(`import(${JSON.stringify(url)}).then((m) => require("node:worker_threads").parentPort.postMessage(m.widenTimerSlack(9999) ?? null));`, { eval: true });
    const answer = await new Promise((resolve, reject) => worker.once("message", resolve).once("error", reject));
    await worker.terminate();
    expect(answer).toBeNull();
  });
});
