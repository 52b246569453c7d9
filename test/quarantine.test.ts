/**
 * Quarantine with real processes (docs/security.md, "Quarantine"): an app whose calls hit a limit, or
 * that takes the CPU from lighter apps, moves to a worker of its own at the lowest CPU priority, other
 * apps stay where they are, bytes the supervisor read to place a connection reach the worker intact,
 * and the app comes back when it has been quiet for the hold time. Security checklist: a tenant must not slow the others down.
 */
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { treeUsage } from "restitch";
import { afterEach, describe, expect, it } from "vitest";
import { writeApp } from "./helpers/app.js";
import { serveRestitch, stopChildren, type Served } from "./helpers/process.js";

const children: ChildProcess[] = [];
afterEach(() => stopChildren(children));

const apps = async () => [
  await writeApp({
    appId: "good-abcde",
    functions: { hello: "exports = () => ({ ok: true });" },
    endpoints: [{ route: "/hello", http_method: "GET", function_name: "hello" }],
  }),
  await writeApp({
    appId: "bad-abcde",
    functions: {
      // 17 MB: over the 16 MB result limit, refused at once (a limit hit, like CPU and memory).
      big: `exports = () => "x".repeat(17 * 1024 * 1024);`,
      echo: `exports = function (req) { return { body: req.body === undefined ? null : req.body.text() }; };`,
      // Answers after 8 s, costing no CPU meanwhile.
      slow: `exports = async () => { await new Promise((r) => setTimeout(r, 8000)); return "slow"; };`,
    },
    endpoints: [
      { route: "/big", http_method: "GET", function_name: "big" },
      { route: "/echo", http_method: "POST", function_name: "echo" },
      { route: "/slow", http_method: "GET", function_name: "slow" },
    ],
  }),
];

/** Which worker (pid) served each app, from the JSON log records on stdout. */
function servedBy(s: Served, app: string): number[] {
  return s
    .stdout()
    .split("\n")
    .flatMap((l) => {
      try {
        const r = JSON.parse(l) as { app?: string; pid?: number };
        return r.app === app && r.pid ? [r.pid] : [];
      } catch {
        return [];
      }
    });
}

/** The fields of /proc/<pid>/stat (or of a thread's) after the command name: [1] is the parent, [11] and [12] the CPU ticks used, [16] the nice value. */
const statOf = (path: string) => readFileSync(`/proc/${path}/stat`, "utf8").split(") ")[1]!.split(" ");
/** The nice value of every thread of a process (Linux). */
const threadNices = (pid: number) => readdirSync(`/proc/${pid}/task`).map((t) => Number(statOf(`${pid}/task/${t}`)[16]));

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One request on a connection of its own (fetch would reuse a pooled one), its status, body and headers. */
function once(url: string, init: { method?: string; body?: string } = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? "GET", agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(init.body);
  });
}

/** Writes `parts` to a new connection, waiting between them, and returns everything it answers until it closes. */
function slowRequest(url: string, parts: string[], between: () => Promise<unknown>): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let answer = "";
    socket.on("data", (d) => (answer += d.toString("latin1")));
    socket.on("end", () => resolve(answer));
    socket.on("error", reject);
    socket.once("connect", async () => {
      for (const part of parts) {
        socket.write(part);
        await between();
      }
    });
  });
}

describe("quarantine of tenants that keep hitting limits (--workers 1, the default)", () => {
  it("moves such an app to a worker of its own at nice 19, keeps the others, and brings it back once quiet", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children, { RESTITCH_QUARANTINE_HOLD_MS: "3000" });
    const [normalPid] = s.pids;
    const good = `${s.url}/app/good-abcde/endpoint/hello`;
    const bad = `${s.url}/app/bad-abcde/endpoint`;

    expect((await once(`${bad}/big`)).status).toBe(400);
    await until(() => /quarantine worker serves 'bad-abcde'/.test(s.stderr()), 15_000, "the quarantine");

    // The next connection for the app goes to the quarantine worker, which keeps it alive.
    const moved = await fetch(`${bad}/echo`, { method: "POST", body: "hi" });
    expect(await moved.json()).toEqual({ body: "hi" });
    expect(moved.headers.get("connection")).not.toBe("close");
    await until(() => servedBy(s, "bad-abcde").length >= 2, 5_000, "the record");
    const quarantinePid = servedBy(s, "bad-abcde").at(-1)!;
    expect(quarantinePid).not.toBe(normalPid);

    // Every thread of it at the lowest priority (Linux).
    if (process.platform === "linux") {
      const nices = threadNices(quarantinePid);
      expect(nices.length).toBeGreaterThan(1);
      expect(nices.every((n) => n === 19)).toBe(true);
      // The benches' treeUsage tells its RSS apart (bench:hostile judges memory without it).
      const usage = treeUsage(s.child.pid!);
      expect(usage.quarantineRssMb).toBeGreaterThan(0);
      expect(usage.quarantineRssMb).toBeLessThan(usage.rssMb);
    }

    // A new connection for the other app goes to the normal worker.
    expect((await once(good)).body).toBe(JSON.stringify({ ok: true }));
    await until(() => servedBy(s, "good-abcde").length >= 1, 5_000, "the record");
    expect(servedBy(s, "good-abcde")).toEqual([normalPid]);

    // The supervisor reads the request line to place the connection: the rest, sent later and in
    // pieces, and a second request behind it on the same connection, reach the worker intact.
    const body = "x".repeat(70_000);
    const head = `POST /app/bad-abcde/endpoint/echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`;
    const second = "GET /app/good-abcde/endpoint/hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    const answer = await slowRequest(s.url, ["POST /app/bad-abcde/endpoint/echo HTTP/1.1\r\n", head.slice(head.indexOf("\n") + 1), body.slice(0, 30_000), body.slice(30_000) + second], () => new Promise((r) => setTimeout(r, 150)));
    expect(answer).toContain(JSON.stringify({ body }));
    expect(answer).toContain(JSON.stringify({ ok: true }));
    expect(answer.match(/HTTP\/1\.1 200/g)).toHaveLength(2);

    // The supervisor's gauge, summed into /metrics.
    expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/^restitch_quarantined_apps 1$/m);

    // Quiet for the hold time: released, and served by the normal worker again.
    await until(() => /quarantine worker serves no app/.test(s.stderr()), 15_000, "the release");
    expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/^restitch_quarantined_apps 0$/m);
    const back = await once(`${bad}/echo`, { method: "POST", body: "back" });
    expect(back.body).toBe(JSON.stringify({ body: "back" }));
    await until(() => servedBy(s, "bad-abcde").includes(normalPid!) && servedBy(s, "bad-abcde").at(-1) === normalPid, 5_000, "the normal worker's record");
  }, 60_000);

  it("closes a kept-alive connection after answering a request of a quarantined app, so the client reconnects to the right worker", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children);
    const bad = `${s.url}/app/bad-abcde/endpoint`;
    // One connection, kept alive across the quarantine.
    const answer = await slowRequest(
      s.url,
      [`GET /app/bad-abcde/endpoint/big HTTP/1.1\r\nHost: t\r\n\r\n`, `POST /app/bad-abcde/endpoint/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi`],
      // (then a moment for the message to reach the worker)
      () => until(() => /quarantine worker serves 'bad-abcde'/.test(s.stderr()), 15_000, "the quarantine").then(() => new Promise((r) => setTimeout(r, 300))),
    );
    // The first answer (the limit) kept the connection; by the second, the app was quarantined and the
    // normal worker said so and closed it.
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(/quarantine worker serves 'bad-abcde'/.test(s.stderr())).toBe(true);
    expect(answer.split("HTTP/1.1 ").length - 1).toBe(2);
    expect(answer).toMatch(/HTTP\/1\.1 200 OK[\s\S]*[Cc]onnection: close/);
    const next = await fetch(`${bad}/echo`, { method: "POST", body: "again" });
    expect(await next.json()).toEqual({ body: "again" });
    await until(() => servedBy(s, "bad-abcde").some((p) => p !== s.pids[0]), 5_000, "a record from the quarantine worker");
  }, 30_000);

  it("closes a kept-alive connection whose app was quarantined while its call ran, with that call's answer", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children);
    const bad = `${s.url}/app/bad-abcde/endpoint`;
    let answeredAt = Infinity;
    // The slow call's request reaches the normal worker before the app is quarantined...
    const { hostname, port } = new URL(s.url);
    const socket = net.connect(Number(port), hostname);
    let text = "";
    const closed = new Promise<boolean>((resolve) => {
      socket.on("data", (d) => {
        text += d.toString("latin1");
        // Answered: closed by the worker within 2 s, or kept alive.
        if (!text.endsWith('"slow"')) return;
        answeredAt = Date.now();
        setTimeout(() => resolve(false), 2_000);
      });
      socket.on("end", () => resolve(true));
    });
    socket.write(`GET /app/bad-abcde/endpoint/slow HTTP/1.1\r\nHost: t\r\n\r\n`);
    expect((await once(`${bad}/big`)).status).toBe(400);
    await until(() => /quarantine worker serves 'bad-abcde'/.test(s.stderr()), 15_000, "the quarantine");
    const quarantinedAt = Date.now();
    // ...and its answer, the first on the connection, closes it: the client's next request is placed anew.
    const wasClosed = await closed;
    socket.destroy();
    expect(answeredAt, "the call was answered after the quarantine").toBeGreaterThan(quarantinedAt);
    expect(text.split("HTTP/1.1 ").length - 1).toBe(1);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*[Cc]onnection: close[\s\S]*"slow"$/);
    expect(wasClosed).toBe(true);
  }, 30_000);

  it("placing a connection reads at most 1 s and 8 KiB of it: a silent client goes to any worker, a long request line is placed by its start, and both are answered intact", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children);
    expect((await once(`${s.url}/app/bad-abcde/endpoint/big`)).status).toBe(400);
    await until(() => /quarantine worker serves 'bad-abcde'/.test(s.stderr()), 15_000, "the quarantine");
    await new Promise((r) => setTimeout(r, 300)); // the keys reach the workers

    // Silent past the 1 s read: handed to a normal worker unread, which answers and closes, since the app
    // belongs in quarantine (without the time bound the supervisor would have placed it there).
    const request = `POST /app/bad-abcde/endpoint/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nlate`;
    const silent = await slowRequest(s.url, ["", request], () => new Promise((r) => setTimeout(r, 1_500)));
    expect(silent).toMatch(/^HTTP\/1\.1 200/);
    expect(silent).toMatch(/[Cc]onnection: close/);
    expect(silent).toContain(JSON.stringify({ body: "late" }));

    // A request line past 8 KiB: placed by what was read (its target starts with the app), the rest follows.
    const query = "q=" + "a".repeat(9_000);
    const long = await slowRequest(
      s.url,
      // The first write has no line feed: the supervisor places the connection once it holds 8 KiB.
      [`POST /app/bad-abcde/endpoint/echo?${query}`, ` HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 4\r\n\r\nlong`],
      () => new Promise((r) => setTimeout(r, 200)),
    );
    expect(long).toMatch(/^HTTP\/1\.1 200/);
    expect(long).toContain(JSON.stringify({ body: "long" }));
    await until(() => servedBy(s, "bad-abcde").length >= 3, 5_000, "the records");
    const [, afterSilent, afterLong] = servedBy(s, "bad-abcde");
    expect(afterSilent).toBe(s.pids[0]);
    expect(afterLong).not.toBe(s.pids[0]);
  }, 30_000);

  it.runIf(process.platform === "linux")("a quarantine worker boots at nice 10, not taking the cores from the normal worker as an attack begins, and runs at nice 19", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children);
    const supervisor = Number(statOf(String(s.pids[0]))[1]); // the worker's parent
    /** Pids whose parent is the supervisor, the nice value of their main thread, and the CPU ticks they used. */
    const workers = () =>
      readdirSync("/proc")
        .filter((d) => /^\d+$/.test(d))
        .flatMap((pid) => {
          try {
            const fields = statOf(pid);
            return Number(fields[1]) === supervisor ? [{ pid: Number(pid), nice: Number(fields[16]), ticks: Number(fields[11]) + Number(fields[12]) }] : [];
          } catch {
            return []; // gone meanwhile
          }
        });
    expect(workers().map((w) => w.pid)).toEqual(s.pids);
    expect((await once(`${s.url}/app/bad-abcde/endpoint/big`)).status).toBe(400);
    // Seen once it has booted for a while (5 ticks, ~50 ms of CPU; its boot takes about a second), not in
    // the instant between its fork and the supervisor's setPriority.
    let booting: { pid: number; nice: number } | undefined;
    await until(() => (booting = workers().find((w) => w.pid !== s.pids[0] && w.ticks >= 5)) !== undefined, 5_000, "the quarantine worker's boot");
    expect(s.stderr()).not.toContain(`quarantine worker ${booting!.pid} ready`);
    expect(booting!.nice).toBeGreaterThanOrEqual(10);
    await until(() => s.stderr().includes(`quarantine worker ${booting!.pid} ready`), 15_000, "its ready line");
    expect(threadNices(booting!.pid).every((n) => n === 19)).toBe(true);
    expect(workers().find((w) => w.pid === s.pids[0])?.nice).toBe(0);
  }, 30_000);

  it("a quarantine worker that dies is replaced while the app is still quarantined; meanwhile its connections wait for the new one, never the normal worker", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children);
    const bad = `${s.url}/app/bad-abcde/endpoint`;
    expect((await once(`${bad}/big`)).status).toBe(400);
    await until(() => /quarantine worker serves 'bad-abcde'/.test(s.stderr()), 15_000, "the quarantine");
    expect((await once(`${bad}/echo`, { method: "POST", body: "1" })).body).toBe(JSON.stringify({ body: "1" }));
    await until(() => servedBy(s, "bad-abcde").some((p) => p !== s.pids[0]), 5_000, "a record from the quarantine worker");
    const first = servedBy(s, "bad-abcde").find((p) => p !== s.pids[0])!;

    process.kill(first, "SIGKILL");
    await until(() => new RegExp(`worker ${first} died`).test(s.stderr()), 5_000, "the death");
    // Sent while no quarantine worker runs: it waits for the replacement (a second or two of boot).
    const waited = Date.now();
    expect((await once(`${bad}/echo`, { method: "POST", body: "2" })).body).toBe(JSON.stringify({ body: "2" }));
    expect(Date.now() - waited).toBeGreaterThan(200);
    // The other app is not held up meanwhile.
    expect((await once(`${s.url}/app/good-abcde/endpoint/hello`)).body).toBe(JSON.stringify({ ok: true }));
    await until(() => servedBy(s, "bad-abcde").length >= 3, 5_000, "the records");
    const served = servedBy(s, "bad-abcde");
    expect(served).toHaveLength(3); // the 400, "1" and "2": nothing more, nowhere else
    expect([first, s.pids[0]]).not.toContain(served.at(-1));
    expect(s.child.exitCode).toBeNull();
  }, 40_000);

  it("a quarantined app's connection that waits longer than RESTITCH_QUARANTINE_WAIT_MS for its worker gets a clear 503, and the server goes on", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json"], children, { RESTITCH_QUARANTINE_WAIT_MS: "100" });
    const bad = `${s.url}/app/bad-abcde/endpoint`;
    expect((await once(`${bad}/big`)).status).toBe(400);
    await until(() => /quarantine worker serves 'bad-abcde'/.test(s.stderr()), 15_000, "the quarantine");
    // The quarantine worker needs about a second to boot: 100 ms is not enough.
    // The body is larger than what the supervisor reads to place the connection: the answer still arrives.
    const early = await once(`${bad}/echo`, { method: "POST", body: "x".repeat(300_000) });
    expect(early.status).toBe(503);
    expect(early.headers["retry-after"]).toBe("5");
    expect(JSON.parse(early.body)).toMatchObject({ error_code: "ServiceUnavailable" });
    // Nobody served the refused ones; once the worker is up the app is answered there.
    let later = await once(`${bad}/echo`, { method: "POST", body: "late" });
    for (const end = Date.now() + 15_000; later.status === 503 && Date.now() < end; ) later = await once(`${bad}/echo`, { method: "POST", body: "late" });
    expect(later.body).toBe(JSON.stringify({ body: "late" }));
    await until(() => servedBy(s, "bad-abcde").length >= 2, 5_000, "the records");
    await new Promise((r) => setTimeout(r, 200)); // any record of a refused request would be in by now
    expect(servedBy(s, "bad-abcde")).toHaveLength(2);
    expect(servedBy(s, "bad-abcde").at(-1)).not.toBe(s.pids[0]);
    expect(s.child.exitCode).toBeNull();
  }, 40_000);

  it("moves an app whose quick calls take the CPU from a lighter app (no limit hit), and not while it is the only app served", async () => {
    const hog = await writeApp({
      appId: "hog-abcde",
      // 3 ms of CPU per call, well within every limit.
      functions: { spin: `exports = () => { const end = Date.now() + 3; while (Date.now() < end); return "spun"; };` },
      endpoints: [{ route: "/spin", http_method: "GET", function_name: "spin" }],
    });
    const s = await serveRestitch([hog, ...(await apps()), "--log-format", "json"], children);
    const [normalPid] = s.pids;
    let stop = false;
    const flood = async () => {
      while (!stop) expect(await (await fetch(`${s.url}/app/hog-abcde/endpoint/spin`)).json()).toBe("spun");
    };
    const floods = [flood(), flood()];
    // Alone: busy, but nobody lighter is waiting.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(s.stderr()).not.toMatch(/quarantine worker serves/);
    // Next to a light app: moved within a second or two, the light app stays.
    const light = (async () => {
      while (!stop) {
        expect((await once(`${s.url}/app/good-abcde/endpoint/hello`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await until(() => /quarantine worker serves 'hog-abcde'/.test(s.stderr()), 10_000, "the quarantine");
      await until(() => servedBy(s, "hog-abcde").some((p) => p !== normalPid), 5_000, "a record from the quarantine worker");
    } finally {
      stop = true;
      await Promise.all([...floods, light]);
    }
    expect(s.stderr()).not.toMatch(/good-abcde'/);
    expect(new Set(servedBy(s, "good-abcde"))).toEqual(new Set([normalPid]));
  }, 30_000);

  it("--quarantine off keeps every app on the normal workers", async () => {
    const s = await serveRestitch([...(await apps()), "--log-format", "json", "--quarantine", "off"], children);
    const bad = `${s.url}/app/bad-abcde/endpoint`;
    expect((await once(`${bad}/big`)).status).toBe(400);
    expect((await once(`${bad}/big`)).status).toBe(400);
    await new Promise((r) => setTimeout(r, 1_500));
    const r = await once(`${bad}/echo`, { method: "POST", body: "x" });
    expect(r.body).toBe(JSON.stringify({ body: "x" }));
    await until(() => servedBy(s, "bad-abcde").length >= 3, 5_000, "the records");
    expect(new Set(servedBy(s, "bad-abcde"))).toEqual(new Set(s.pids));
    expect(s.stderr()).not.toMatch(/quarantine/);
  }, 30_000);
});
