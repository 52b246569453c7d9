/**
 * Where heavy apps run. An app whose calls recently ran long (a first slice past its budget, a long
 * continuation, a CPU or memory limit hit) is "heavy" for a while; in a runtime serving several apps,
 * a heavy app's slices skip the event loop and wait for one of a few lane slots, taken by heavy apps in
 * turn (round-robin per app, FIFO within one). Without the lane, each heavy call ran on a thread of
 * its own and a handful of tenants burning their CPU budgets took the cores from the event loop that
 * answers every app (hostile load test: the normal app got 47 of its 500 req/s). With it, the heavy
 * apps together use at most `slots` threads; other apps' slices never wait for the lane.
 */

/** Starts one slice; resolves (never rejects) when the slice is over and its slot may be reused. */
export type SliceStart = () => Promise<unknown>;

export class HeavyLane {
  private running = 0;
  /** Waiting slices per app; Map order is the rotation (an app moves to the back after its turn). */
  private readonly queues = new Map<string, SliceStart[]>();

  constructor(readonly slots: number) {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`heavy lane slots must be a positive integer, got ${slots}`);
  }

  /** Runs `start` now if a slot is free and no app is waiting, else when the app's turn comes. */
  enter(appId: string, start: SliceStart): void {
    let queue = this.queues.get(appId);
    if (!queue) this.queues.set(appId, (queue = []));
    queue.push(start);
    this.next();
  }

  /** Slices waiting, all apps together. */
  get waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  private next(): void {
    while (this.running < this.slots) {
      const turn = this.queues.entries().next();
      if (turn.done) return;
      const [appId, queue] = turn.value;
      const start = queue.shift()!;
      // The app goes to the back of the rotation (or leaves it, with nothing left to run).
      this.queues.delete(appId);
      if (queue.length > 0) this.queues.set(appId, queue);
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
 * Host work (service calls, timers) a heavy app asks for, taken in turns: at most `budgetMs` of the
 * event loop per turn of the loop, one operation per app in rotation, the rest at the next turn. The
 * lane bounds a heavy app's own code but not the host work one slice can ask for (500 queries per
 * await, again and again): run at once, that flood took the event loop from every other app (hostile
 * load test: the normal app kept 500 req/s under every other attack, and 2 req/s next to it).
 */
export class HeavyHostWork {
  private readonly queues = new Map<string, (() => void)[]>();
  private scheduled = false;

  constructor(
    private readonly budgetMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  enter(appId: string, work: () => void): void {
    let queue = this.queues.get(appId);
    if (!queue) this.queues.set(appId, (queue = []));
    queue.push(work);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.queues.size === 0) return;
    this.scheduled = true;
    setImmediate(this.drain);
  }

  private readonly drain = (): void => {
    this.scheduled = false;
    const until = this.now() + this.budgetMs;
    do {
      const turn = this.queues.entries().next();
      if (turn.done) return;
      const [appId, queue] = turn.value;
      const work = queue.shift()!;
      this.queues.delete(appId);
      if (queue.length > 0) this.queues.set(appId, queue);
      try {
        work();
      } catch {
        // each piece of work reports its own failure to its call
      }
    } while (this.now() < until);
    this.schedule();
  };
}
