import { describe, expect, it } from "vitest";
import { checkPassword, generateApiKey, hashApiKey, hashPassword, safeEqual, VerifiedPasswords, verifyPassword } from "../src/secrets.js";

describe("passwords", () => {
  it("hashes with a per-user salt and verifies only the right password", async () => {
    const a = await hashPassword("correct horse");
    const b = await hashPassword("correct horse");
    expect(a).not.toBe(b); // different salts
    expect(a).not.toContain("correct horse");
    expect(a.startsWith("scrypt$32768$8$1$")).toBe(true);
    expect(await verifyPassword("correct horse", a)).toBe(true);
    expect(await verifyPassword("correct horsf", a)).toBe(false);
    expect(await verifyPassword("correct horse", "garbage")).toBe(false);
  });

  it("C147 refuses passwords outside 6-128 characters, counting code points", () => {
    expect(() => checkPassword("12345")).toThrow(/between 6 and 128/);
    expect(() => checkPassword("x".repeat(129))).toThrow(/between 6 and 128/);
    expect(checkPassword("123456")).toBe("123456");
    expect(checkPassword("😀".repeat(128))).toHaveLength(256);
    expect(() => checkPassword(123456)).toThrow(/password must be a string/);
  });
});

describe("API keys", () => {
  it("are 64 alphanumeric characters, distinct, stored as sha256 hex", () => {
    const keys = new Set(Array.from({ length: 200 }, generateApiKey));
    expect(keys.size).toBe(200);
    for (const k of keys) expect(k).toMatch(/^[A-Za-z0-9]{64}$/);
    const k = [...keys][0]!;
    expect(hashApiKey(k)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashApiKey(k)).toBe(hashApiKey(k));
  });

  it("safeEqual compares without length shortcuts", () => {
    expect(safeEqual("abc", "abc")).toBe(true);
    expect(safeEqual("abc", "abd")).toBe(false);
    expect(safeEqual("abc", "abcd")).toBe(false);
  });
});

describe("VerifiedPasswords", () => {
  it("skips scrypt for a repeated correct password, never caches failures, and forgets on a new hash or after the TTL", async () => {
    let t = 0;
    const cache = new VerifiedPasswords(() => t, 1000);
    const hash = await hashPassword("Pa55w0rd!");
    expect(await cache.verify("bob", "Pa55w0rd!", hash)).toBe(true);
    const started = performance.now();
    expect(await cache.verify("bob", "Pa55w0rd!", hash)).toBe(true);
    expect(performance.now() - started).toBeLessThan(20); // a cache hit costs an HMAC, not an scrypt
    expect(await cache.verify("bob", "wrong-one", hash)).toBe(false);
    expect(await cache.verify("alice", "Pa55w0rd!", hash)).toBe(true); // another name is its own entry
    const changed = await hashPassword("N3wPassw0rd");
    expect(await cache.verify("bob", "Pa55w0rd!", changed)).toBe(false);
    t = 1001;
    expect(await cache.verify("bob", "Pa55w0rd!", hash)).toBe(true); // expired: checked again, still right
    for (const damaged of ["scrypt$1$1$1$AAAA$AAAA", "scrypt$3$8$1$AAAA$AAAA", "scrypt$x$y$z$AAAA$AAAA", "bcrypt$whatever"])
      expect(await verifyPassword("Pa55w0rd!", damaged)).toBe(false);
  });
});
