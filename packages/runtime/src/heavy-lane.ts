/**
 * Where heavy apps run. An app whose calls recently ran long (a first slice past its budget, a long
 * continuation, event-loop time taken by host work, a limit hit; see runtime.ts) is "heavy" for a
 * while; in a runtime serving several apps, a heavy app's slices skip the event loop and wait for one of
 * a few lane slots, taken by heavy apps in turn (round-robin per app, FIFO within one). Without the
 * lane, each heavy call ran on a thread of its own and a handful of tenants burning their CPU budgets
 * took the cores from the event loop that answers every app (hostile load test: the normal app got 47
 * of its 500 req/s). With it, the heavy apps together use at most `slots` threads; other apps' slices
 * never wait for the lane.
 */

/** Starts one slice; resolves (never rejects) when the slice is over and its slot may be reused. */
export type SliceStart = () => Promise<unknown>;

/** Per-app FIFO queues served in turns: an app moves to the back of the rotation after each item it gives. */
class Turns<T> {
  /** Map order is the rotation. */
  private readonly queues = new Map<string, T[]>();

  push(appId: string, item: T): void {
    let queue = this.queues.get(appId);
    if (!queue) this.queues.set(appId, (queue = []));
    queue.push(item);
  }

  /** The next item in rotation, or undefined when nothing waits. */
  take(): T | undefined {
    const turn = this.queues.entries().next();
    if (turn.done) return undefined;
    const [appId, queue] = turn.value;
    const item = queue.shift()!;
    this.queues.delete(appId);
    if (queue.length > 0) this.queues.set(appId, queue);
    return item;
  }

  get empty(): boolean {
    return this.queues.size === 0;
  }

  /** Whether the app has items waiting. */
  has(appId: string): boolean {
    return this.queues.has(appId);
  }

  /** Items waiting, all apps together. */
  get size(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }
}

export class HeavyLane {
  private running = 0;
  private readonly turns = new Turns<SliceStart>();

  constructor(readonly slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`heavy lane slots must be a positive integer, got ${slots}`);
  }

  /** Runs `start` now if a slot is free and no app is waiting, else when the app's turn comes. */
  enter(appId: string, start: SliceStart): void {
    this.turns.push(appId, start);
    this.next();
  }

  /** Whether the app has slices waiting here (an app keeps its place in the lane while it has any). */
  holds(appId: string): boolean {
    return this.turns.has(appId);
  }

  /** Slices waiting, all apps together. */
  get waiting(): number {
    return this.turns.size;
  }

  private next(): void {
    while (this.running < this.slots) {
      const start = this.turns.take();
      if (!start) return;
      this.running++;
      let slice: Promise<unknown>;
      try {
        slice = start();
      } catch {
        slice = Promise.resolve();
      }
      void slice
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          this.next();
        });
    }
  }
}

/**
 * Host work (service calls, timers) of heavy apps and of calls that ran long, taken in turns: at most
 * `budgetMs` of the event loop per turn of the loop, one operation per app in rotation, the rest at the
 * next turn. The lane bounds a heavy app's own code but not the host work one slice can ask for (500
 * queries per await, again and again): run at once, that flood took the event loop from every other app
 * (hostile load test: the normal app kept 500 req/s under every other attack, and 2 req/s next to it).
 */
export class HeavyHostWork {
  private readonly turns = new Turns<() => void>();
  private scheduled = false;

  constructor(
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  enter(appId: string, work: () => void): void {
    this.turns.push(appId, work);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.turns.empty) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const until = this.now() + this.budgetMs;
    do {
      const work = this.turns.take();
      if (!work) return;
      try {
        work();
      } catch {
        // each piece of work reports its own failure to its call
      }
    } while (this.now() < until);
    this.schedule();
  };
}
