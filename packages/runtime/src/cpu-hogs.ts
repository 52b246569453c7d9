/**
 * Finds the app that takes a worker's CPU from the others with calls that each stay within every limit
 * (hostile load test: a catastrophic regex, answered in 0.2 ms by V8's linear-time engine 1,500 times a
 * second, made the normal app's p99 2.2× its p99 alone). No single call of such an app looks wrong, so
 * the limits never see it; what gives it away is its share of the tenant CPU next to lighter apps.
 *
 * An app is a hog when, in each of HOG_WINDOWS consecutive windows, its calls used at least
 * HOG_MIN_CORE_SHARE of a core of isolate CPU and at least HOG_RATIO times what another app with steady
 * traffic (HOG_PEER_CALLS calls in the window) used. A single busy app, or several equally busy ones, is
 * never a hog: nobody lighter is there to protect. Nor is a busy app next to apps called once or twice:
 * in the hostile test's first contact, the hostile apps' single calls made the normal app (500 req/s) a
 * hog, and it was quarantined with them (69 of its 5,000 answers). A busy app next to light apps with
 * steady traffic is a hog, whether it means harm or not (see docs/security.md, "Quarantine").
 */

/** Window over which each app's tenant CPU is summed (ms). */
export const HOG_WINDOW_MS = 250;
/**
 * Least CPU (share of one core over the window) that can make a hog. The hostile test's normal app
 * used 6 % at 500 req/s; the regex app 28 %.
 */
const HOG_MIN_CORE_SHARE = 0.1;
/** A hog used at least this many times the CPU of some other app served in the same window... */
const HOG_RATIO = 2;
/** ...that had at least this many calls end in the window (20 a second). */
const HOG_PEER_CALLS = 5;
/** Consecutive windows an app must be a hog in before it is reported: one burst is not enough. */
const HOG_WINDOWS = 2;

export class CpuHogs {
  /** Start of the current window (performance.now() ms); set by the first call. */
  private windowStart: number | undefined;
  /** Tenant CPU (ms) and calls per app that had a call end in the current window. */
  private used = new Map<string, { ms: number; calls: number }>();
  /** Consecutive windows each app was a hog in, up to the last closed window. */
  private strikes = new Map<string, number>();

  constructor(private readonly onHog: (appId: string) => void) {}

  /** A call of `appId` ended, having used `cpuMs` of isolate CPU. Costs a map update (on every call). */
  record(appId: string, cpuMs: number, now = performance.now()): void {
    this.windowStart ??= now;
    if (now - this.windowStart >= HOG_WINDOW_MS) this.closeWindow(now - this.windowStart, now);
    const used = this.used.get(appId);
    if (used) {
      used.ms += cpuMs;
      used.calls++;
    } else this.used.set(appId, { ms: cpuMs, calls: 1 });
  }

  /**
   * Judges the window that ends now. Windows close on the first call after their end, so a window can
   * be longer than HOG_WINDOW_MS after a quiet time; the CPU floor scales with its real length.
   */
  private closeWindow(lengthMs: number, now: number): void {
    const floor = HOG_MIN_CORE_SHARE * lengthMs;
    // The lightest app with steady traffic; Infinity when there is none.
    let lightest = Infinity;
    for (const { ms, calls } of this.used.values()) if (calls >= HOG_PEER_CALLS) lightest = Math.min(lightest, ms);
    const strikes = new Map<string, number>();
    for (const [appId, { ms }] of this.used) {
      // The lightest app itself fails the ratio or the floor.
      if (ms < floor || ms < lightest * HOG_RATIO) continue;
      const n = (this.strikes.get(appId) ?? 0) + 1;
      if (n >= HOG_WINDOWS) this.onHog(appId);
      else strikes.set(appId, n);
    }
    this.strikes = strikes;
    this.used = new Map();
    this.windowStart = now;
  }
}
