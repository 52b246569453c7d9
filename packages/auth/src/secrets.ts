/**
 * Password hashing and API key material. Nothing here logs or returns a secret it was given.
 */
import { createHash, createHmac, randomBytes, randomInt, scrypt as scryptCb, timingSafeEqual } from "node:crypto";
import { AuthError } from "./errors.js";

// scrypt N=2^15, r=8, p=1: ~0.15 s per check on this project's small build machines, which is the point.
// The parameters are stored with each hash, so N can be raised later without breaking old hashes.
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
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  // A damaged stored hash is a failed check, never a crash (scrypt throws on bad parameters).
  const sane = params.N >= 2 && params.N <= 1 << 20 && (params.N & (params.N - 1)) === 0 && params.r >= 1 && params.r <= 32 && params.p >= 1 && params.p <= 16;
  if (scheme !== "scrypt" || !salt || !hash || !sane) return false;
  const expected = Buffer.from(hash, "base64");
  let actual: Buffer;
  try {
    actual = await scrypt(password, Buffer.from(salt, "base64"), params);
  } catch {
    return false;
  }
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

/**
 * Remembers recent successful password checks so endpoint requests that send email+password on every
 * call do not pay scrypt each time. Entries are an HMAC (random per-process key) over the username,
 * the stored hash and the password: no password is kept, and a changed password (new stored hash)
 * never matches an old entry. Failures are never cached.
 */
export class VerifiedPasswords {
  private readonly key = randomBytes(32);
  private readonly entries = new Map<string, number>();

  constructor(
    private readonly now: () => number,
    private readonly ttlMs = 5 * 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  private mac(username: string, storedHash: string, password: string): string {
    return createHmac("sha256", this.key).update(`${username}\0${storedHash}\0${password}`, "utf8").digest("base64");
  }

  async verify(username: string, password: string, storedHash: string): Promise<boolean> {
    const mac = this.mac(username, storedHash, password);
    const until = this.entries.get(mac);
    if (until !== undefined && until > this.now()) return true;
    if (!(await verifyPassword(password, storedHash))) return false;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(mac, this.now() + this.ttlMs);
    return true;
  }
}
