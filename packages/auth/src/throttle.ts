/**
 * Failed-authentication throttling: after `maxFailures` failures within `windowMs` for one key
 * (an identity or a client address), further attempts for that key are refused until the window
 * moves on. In memory, per process: a shared store would turn every failed guess into a write.
 */
export class FailureThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number,
    /** Bounds memory under a flood of distinct keys. */
    private readonly maxKeys = 100_000,
  ) {}

  private recent(key: string): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const cutoff = this.now() - this.windowMs;
    const kept = list.filter((t) => t > cutoff);
    if (kept.length) this.failures.set(key, kept);
    else this.failures.delete(key);
    return kept;
  }

  blocked(keys: (string | undefined)[]): boolean {
    return keys.some((k) => k !== undefined && this.recent(k).length >= this.maxFailures);
  }

  fail(keys: (string | undefined)[]): void {
    if (this.failures.size >= this.maxKeys) this.prune();
    for (const k of keys) {
      if (k === undefined) continue;
      const list = this.recent(k);
      list.push(this.now());
      this.failures.set(k, list.slice(-this.maxFailures));
    }
  }

  succeed(keys: (string | undefined)[]): void {
    // Only the identity is forgiven: a success must not reset an address that is guessing other names.
    const identity = keys[0];
    if (identity !== undefined) this.failures.delete(identity);
  }

  private prune(): void {
    for (const k of [...this.failures.keys()]) this.recent(k);
    // Still full of live keys: drop the oldest entries rather than grow without bound.
    const excess = this.failures.size - Math.floor(this.maxKeys * 0.9);
    if (excess > 0) for (const k of [...this.failures.keys()].slice(0, excess)) this.failures.delete(k);
  }
}
