/**
 * The embedded durable store across processes: acknowledged writes survive kill -9, and a unique index
 * holds when several worker processes write the same keys at once.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { ObjectId } from "bson";
import { createEmbeddedDataService } from "../src/index.js";

const writer = join(import.meta.dirname, "fixtures", "writer.mjs");
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "restitch-durable-"));
  dirs.push(d);
  return d;
};
const children: ChildProcessWithoutNullStreams[] = [];
afterAll(() => {
  // A test that failed before its own kill must not leave a writer running (the stream writer never stops).
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function start(args: string[]): { child: ChildProcessWithoutNullStreams; lines: AsyncIterableIterator<string>; stderr: () => string } {
  const child = spawn(process.execPath, [writer, ...args], { stdio: ["pipe", "pipe", "pipe"] });
  children.push(child);
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator](), stderr: () => err };
}

describe("embedded durable store", () => {
  it.each(["full", "normal"])("every write acknowledged before SIGKILL is found by a new process (synchronous=%s)", async (sync) => {
    const dir = tempDir();
    const { child, lines, stderr } = start([dir, "stream", "k9", "0", sync]);
    const acked: string[] = [];
    for await (const line of lines) {
      if (line.startsWith("ack ")) acked.push(line.slice(4));
      if (acked.length >= 300) break;
    }
    expect(acked.length, stderr()).toBe(300);
    const exited = new Promise((r) => child.once("exit", (code, signal) => r(signal)));
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
    // Acks printed after the 300th may also be durable; what matters is that none of the acked ones is lost.
    const service = await createEmbeddedDataService({ name: "mongodb-atlas", dataDir: dir });
    try {
      const users = service.db("app").collection("users");
      const found = await users.find({ _id: { $in: acked.map((h) => new ObjectId(h)) } }, { projection: { _id: 1 } });
      expect(found).toHaveLength(acked.length);
      expect(await users.count({ tag: "k9" })).toBeGreaterThanOrEqual(acked.length);
    } finally {
      await service.close();
    }
  });

  it("eight processes opening a new store at the same moment all start (none dies on 'database is locked')", async () => {
    for (let round = 0; round < 3; round++) {
      const dir = tempDir();
      const openers = Array.from({ length: 8 }, () => start([dir, "open", "o", "0"]));
      for (const o of openers) expect((await o.lines.next()).value, o.stderr()).toBe("waiting");
      for (const o of openers) o.child.stdin.write("go\n");
      for (const o of openers) expect((await o.lines.next()).value, o.stderr()).toBe("ready");
    }
  });

  it("a unique index holds when four processes insert the same keys concurrently", async () => {
    const dir = tempDir();
    const emails = 150;
    const racers = [0, 1, 2, 3].map((i) => start([dir, "race", `p${i}`, String(emails)]));
    for (const r of racers) expect((await r.lines.next()).value, r.stderr()).toBe("ready");
    for (const r of racers) r.child.stdin.write("go\n");
    let won = 0;
    let dup = 0;
    for (const r of racers) {
      const line = (await r.lines.next()).value as string;
      expect(line, r.stderr()).toMatch(/^done \d+ \d+$/);
      const [, w, d] = line.split(" ");
      won += Number(w);
      dup += Number(d);
    }
    expect(won).toBe(emails);
    expect(dup).toBe(emails * 3);
    const service = await createEmbeddedDataService({ name: "mongodb-atlas", dataDir: dir });
    try {
      const users = service.db("app").collection("users");
      expect(await users.count({})).toBe(emails);
      expect((await users.distinct("email", {})).length).toBe(emails);
    } finally {
      await service.close();
    }
  }, 60_000);
});
