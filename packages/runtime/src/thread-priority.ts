/**
 * isolated-vm runs calls that outlive their first slice on threads of its own (a pool of cores + 1, and
 * extra threads when those are busy). A tenant can keep such threads busy for its whole CPU budget, as
 * many at once as its app has isolates, and on a small machine they take the cores from the event loop
 * that serves every app's quick calls, host work and I/O. On Linux a thread's nice value is its own, so
 * those threads are made nicer than the event loop: tenant code still gets every idle cycle, but the
 * event loop wins when both want the CPU. Measured in docs/security.md (the hostile load test).
 *
 * isolated-vm's threads are created by the main thread and inherit its name; Node's own threads carry
 * names of their own (V8Worker, libuv-worker, …). Elsewhere than Linux this does nothing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

const TASKS = "/proc/self/task";
/** Threads already looked at (lowered, or not isolated-vm's): a scan reads only the names of new ones. */
const seen = new Set<number>();
let pending: NodeJS.Timeout | undefined;

function threadName(tid: number | string): string | undefined {
  try {
    return readFileSync(`${TASKS}/${tid}/comm`, "utf8").trim();
  } catch {
    return undefined; // the thread ended meanwhile
  }
}

function lowerNow(nice: number): void {
  let tids: string[];
  try {
    tids = readdirSync(TASKS);
  } catch {
    return;
  }
  const alive = new Set<number>();
  let main: string | undefined;
  for (const t of tids) {
    const tid = Number(t);
    alive.add(tid);
    if (tid === process.pid || seen.has(tid)) continue;
    seen.add(tid);
    main ??= threadName(process.pid);
    if (threadName(t) !== main) continue;
    makeNicer(tid, nice);
  }
  for (const tid of seen) if (!alive.has(tid)) seen.delete(tid); // thread ids are reused
}

/**
 * Called when a call starts on isolated-vm's threads: a moment later (the thread must exist), every such
 * thread not yet lowered gets `nice`. At most one look at /proc per few milliseconds, however many calls.
 */
export function lowerIsolateThreads(nice: number): void {
  if (nice <= 0 || process.platform !== "linux" || pending) return;
  pending = setTimeout(() => {
    pending = undefined;
    lowerNow(nice);
  }, 5);
  pending.unref();
}

/**
 * Gives every thread of this process `nice` (Linux; threads started later inherit it from the thread
 * that starts them). Never raises a thread's priority.
 */
export function niceEveryThread(nice: number): void {
  if (process.platform !== "linux") return;
  let tids: string[];
  try {
    tids = readdirSync(TASKS);
  } catch {
    return;
  }
  for (const t of tids) makeNicer(Number(t), nice);
}

/**
 * Gives the thread `nice` unless it already has that or more: a thread is never given a higher priority
 * (in a process made nicer as a whole, a quarantine worker, isolated-vm's threads keep its value).
 */
function makeNicer(tid: number, nice: number): void {
  try {
    if (getPriority(tid) < nice) setPriority(tid, nice);
  } catch {
    // gone already, or not permitted: the thread keeps its priority
  }
}
