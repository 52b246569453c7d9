/**
 * isolated-vm bounds every synchronous call with a timer on a thread of its own, and a timer that is
 * cancelled (the call finished in time, as nearly all do) still wakes that thread at its deadline: one
 * wake-up and two context switches per call. Under load that was the largest single cost of a call
 * (naive server, one applySync per request: 51–60 µs of CPU per request with a timeout, 27–32 without).
 *
 * Linux lets a thread's sleeps end up to its "timer slack" late, so the kernel can serve many
 * deadlines with one wake-up; new threads inherit the slack of the thread that creates them. Widening
 * the main thread's slack before isolated-vm starts its timer thread makes that thread wake once per
 * slack interval for every deadline in it (same naive server: 32 µs per request at 2 ms of slack).
 * The price: timers of the main thread and of threads it starts afterwards (setTimeout, CPU limits)
 * may fire up to the slack late. Elsewhere than Linux, and off the main thread, this does nothing.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { isMainThread } from "node:worker_threads";

/** The main thread's timer slack file (a thread may set its own without privileges). */
const SLACK_FILE = "/proc/self/timerslack_ns";

/** Widens the process main thread's timer slack to at least `micros`; returns the slack now in force (µs), or undefined where unsupported. */
export function widenTimerSlack(micros: number): number | undefined {
  if (process.platform !== "linux" || !isMainThread || !(micros > 0)) return undefined;
  try {
    const current = Number(readFileSync(SLACK_FILE, "utf8")) / 1000;
    if (current >= micros) return current;
    writeFileSync(SLACK_FILE, String(Math.round(micros * 1000)));
    return micros;
  } catch {
    return undefined; // no such file (older kernel, no /proc) or not permitted: timers keep their precision
  }
}
