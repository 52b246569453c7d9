/**
 * Password hashing and API key material. Nothing here logs or returns a secret it was given.
 */
import { createHash, randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import { AuthError } from "./errors.js";

// scrypt N=2^15, r=8, p=1 (OWASP's minimum for scrypt); ~30 ms per hash here, which is the point.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const KEY_LEN = 32;

export const PASSWORD_MIN = 6;
export const PASSWORD_MAX = 128;

function scrypt(password: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, KEY_LEN, { ...params, maxmem: SCRYPT.maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** Refuses passwords App Services refuses (6–128 characters, C147). */
export function checkPassword(password: unknown): string {
  if (typeof password !== "string") throw new AuthError(400, "InvalidParameter", "password must be a string");
  const length = [...password].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX)
    throw new AuthError(400, "BadRequest", `password must be between ${PASSWORD_MIN} and ${PASSWORD_MAX} characters`);
  return password;
}

/** "scrypt$N$r$p$<salt b64>$<hash b64>": parameters travel with the hash so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT);
  return ["scrypt", SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString("base64"), key.toString("base64")].join("$");
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = await scrypt(password, Buffer.from(salt, "base64"), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * A hash of a password nobody has, so a login for an unknown user costs the same time as one for a
 * known user (no user enumeration by timing).
 */
let dummyHash: Promise<string> | undefined;
export function burnPasswordCheck(password: string): Promise<boolean> {
  dummyHash ??= hashPassword(randomBytes(18).toString("base64"));
  return dummyHash.then((h) => verifyPassword(password, h));
}

const KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
export const API_KEY_LENGTH = 64;

/** A 64-character alphanumeric key, the shape App Services keys have (seed 001). ~381 bits. */
export function generateApiKey(): string {
  let key = "";
  for (let i = 0; i < API_KEY_LENGTH; i++) key += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)];
  return key;
}

/** API keys are high-entropy, so a plain SHA-256 is enough to store them; it also makes lookup by hash possible. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** Constant-time string equality (compares SHA-256 digests so lengths never leak). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a, "utf8").digest();
  const db = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(da, db);
}
