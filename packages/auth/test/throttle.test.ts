import { describe, expect, it } from "vitest";
import { FailureThrottle } from "../src/throttle.js";

describe("FailureThrottle", () => {
  it("blocks an identity or address after N failures inside the window, and lets the window pass", () => {
    let t = 0;
    const th = new FailureThrottle(3, 1000, () => t);
    const keys = ["user:a", "addr:1.2.3.4"];
    for (let i = 0; i < 3; i++) {
      expect(th.blocked(keys)).toBe(false);
      th.fail(keys);
    }
    expect(th.blocked(keys)).toBe(true);
    expect(th.blocked(["user:b", "addr:1.2.3.4"])).toBe(true); // same address, other name
    expect(th.blocked(["user:a", undefined])).toBe(true);
    expect(th.blocked(["user:b", "addr:5.6.7.8"])).toBe(false);
    t = 1001;
    expect(th.blocked(keys)).toBe(false);
  });

  it("a success forgives the identity but not the address", () => {
    const th = new FailureThrottle(2, 1000, () => 0);
    th.fail(["user:a", "addr:x"]);
    th.fail(["user:a", "addr:x"]);
    th.succeed(["user:a", "addr:x"]);
    expect(th.blocked(["user:a", undefined])).toBe(false);
    expect(th.blocked([undefined, "addr:x"])).toBe(true);
  });

  it("stays bounded under a flood of distinct keys", () => {
    const th = new FailureThrottle(2, 1000, () => 0, 100);
    for (let i = 0; i < 1000; i++) th.fail([`user:${i}`, undefined]);
    expect((th as unknown as { failures: Map<string, unknown> }).failures.size).toBeLessThanOrEqual(100);
  });
});
