/**
 * Finds the app that takes a worker's CPU from the others with calls that each stay within every limit
 * (hostile load test: a catastrophic regex, answered in 0.2 ms by V8's linear-time engine 1,500 times a
 * second, made the normal app's p99 2.2× its p99 alone). No single call of such an app looks wrong, so
 * the limits never see it; what gives it away is its share of the tenant CPU next to lighter apps.
 *
 * An app is a hog when, in each of HOG_WINDOWS consecutive windows, its calls used at least HOG_RATIO times
 * what another app with steady traffic (HOG_PEER_CALLS calls in the window) used, and either more than all
 * the other apps together with at least HOG_MIN_CORE_SHARE of a core, or at least HOG_BUSY_CORE_SHARE of a
 * core. A single busy app, or several equally busy ones, is never a hog: nobody lighter is there to
 * protect. Nor is a busy app next to apps called once or twice: in the hostile test's first contact, the
 * hostile apps' single calls made the normal app (500 req/s) a hog, and it was quarantined with them (69 of
 * its 5,000 answers). A busy app next to light apps with steady traffic is a hog, whether it means harm or
 * not (see docs/security.md, "Quarantine").
 */

/**
 * Window over which each app's tenant CPU is summed (ms). With 250 ms windows the regex app of the
 * hostile test was found 0.7-2 s into the attack, and that wait was most of the normal app's p99 under
 * attack; with 125 ms, 0.35-0.86 s.
 */
export const HOG_WINDOW_MS = 125;
/**
 * Least CPU (share of one core over the window) of a hog that used more than all the other apps together.
 * The hostile test's normal app used 6 % at 500 req/s; the regex app 28 %.
 */
const HOG_MIN_CORE_SHARE = 0.1;
/**
 * Least CPU of a hog next to another busy app. Under attack, with the cores contended, the normal app's
 * calls cost up to 2.5 times their CPU alone (13-16 % of a core at 500 req/s): with the 10 % floor alone
 * it was quarantined as a hog next to a hostile app whose calls failed fast (measured: its p99 went from
 * 5 to 15-25 ms for the hold time, next to the attackers).
 */
const HOG_BUSY_CORE_SHARE = 0.25;
/** A hog used at least this many times the CPU of some other app served in the same window... */
const HOG_RATIO = 2;
/** ...that had at least this many calls end in the window (24 a second). */
const HOG_PEER_CALLS = 3;
/** Consecutive windows an app must be a hog in before it is reported: one burst is not enough. */
const HOG_WINDOWS = 2;
/**
 * An app that was reported, or whose calls hit a limit, is no lighter app to protect for this long (ms):
 * slowed down where it is (the runtime makes it heavy), a hog became the light app with steady traffic
 * next to which the normal app was the hog, and the normal app was made heavy and quarantined in turn
 * (measured: its throughput fell by 40 %, its p99 under attack 10-50 ms).
 */
export const MISCONDUCT_MEMORY_MS = 60_000;

export class CpuHogs {
  /** Start of the current window (performance.now() ms); set by the first call. */
  private windowStart: number | undefined;
  /** Tenant CPU (ms) and calls per app that had a call end in the current window. */
  private used = new Map<string, { ms: number; calls: number }>();
  /** Consecutive windows each app was a hog in, up to the last closed window. */
  private strikes = new Map<string, number>();
  /** Apps that misbehaved lately, until when (performance.now()): no peers to protect (MISCONDUCT_MEMORY_MS). */
  private misbehaved = new Map<string, number>();

  /**
   * `onHog` hears of an app found a hog (HOG_WINDOWS windows in a row); `onSuspect` of one at its first
   * such window, for what costs a false alarm little (its calls starting off the event loop).
   */
  constructor(
    private readonly onHog: (appId: string) => void,
    private readonly onSuspect: (appId: string) => void = () => {},
  ) {}

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

  /** `appId`'s calls hit a limit (or it was reported): for a while it is nobody's lighter peer. */
  misbehavedAt(appId: string, now = performance.now()): void {
    this.misbehaved.set(appId, now + MISCONDUCT_MEMORY_MS);
  }

  /**
   * Judges the window that ends now. Windows close on the first call after their end, so a window can
   * be longer than HOG_WINDOW_MS after a quiet time; the CPU floor scales with its real length.
   */
  private closeWindow(lengthMs: number, now: number): void {
    const floor = HOG_MIN_CORE_SHARE * lengthMs;
    const busyFloor = HOG_BUSY_CORE_SHARE * lengthMs;
    // The lightest app with steady traffic (Infinity when there is none), and what all apps used.
    let lightest = Infinity;
    let total = 0;
    for (const [appId, until] of this.misbehaved) if (until <= now) this.misbehaved.delete(appId);
    for (const [appId, { ms, calls }] of this.used) {
      total += ms;
      if (calls >= HOG_PEER_CALLS && !this.misbehaved.has(appId)) lightest = Math.min(lightest, ms);
    }
    const strikes = new Map<string, number>();
    for (const [appId, { ms }] of this.used) {
      // The lightest app itself fails the ratio.
      if (ms < lightest * HOG_RATIO) continue;
      if (ms < busyFloor && (ms < floor || ms <= total - ms)) continue;
      const n = (this.strikes.get(appId) ?? 0) + 1;
      if (n >= HOG_WINDOWS) {
        this.misbehavedAt(appId, now);
        this.onHog(appId);
      } else {
        strikes.set(appId, n);
        this.onSuspect(appId);
      }
    }
    this.strikes = strikes;
    this.used = new Map();
    this.windowStart = now;
  }
}
