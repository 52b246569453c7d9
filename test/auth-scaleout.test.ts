// Nothing that matters lives in one process's memory: two Restitch servers sharing one store serve the
// same app and accept each other's tokens, tokens survive a restart, and a deleted user's token stops
// working everywhere. Embedded store shared through --data-dir always; a real MongoDB (FerretDB in CI)
// too when MONGODB_URI is set.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { call, serveApp, type AppSpec, type TestServer } from "./helpers/app.js";

const backends: [string, () => Promise<{ mongodbUri?: string; dataDir?: string }>][] = [
  ["embedded on one data dir", async () => ({ dataDir: await mkdtemp(path.join(tmpdir(), "restitch-scaleout-")) })],
];
if (process.env.MONGODB_URI) backends.push(["driver on one MongoDB", async () => ({ mongodbUri: process.env.MONGODB_URI })]);
else console.warn("auth-scaleout: MONGODB_URI is not set; the shared-MongoDB case is skipped (the shared data dir case still runs)");

describe.each(backends)("two servers, %s", (_label, storage) => {
  const servers: TestServer[] = [];
  let dataDir: string | undefined;
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it("accept each other's tokens, keep them across a restart, and drop a deleted user's", async () => {
    const appId = `scale-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const spec: AppSpec = {
      appId,
      functions: { whoami: "exports = () => ({ id: context.user.id, type: context.user.type });" },
      endpoints: [{ route: "/whoami", http_method: "GET", function_name: "whoami", run_as_system: false }],
      dataSources: { "mongodb-atlas": {} },
      authProviders: { "anon-user": { name: "anon-user", type: "anon-user", disabled: false } },
    };
    const options = await storage();
    dataDir = options.dataDir;
    const a = await serveApp(spec, options);
    const b = await serveApp(spec, options);
    servers.push(a, b);
    expect(a.port).not.toBe(b.port);

    const login = (await call(`${a.url}/api/client/v2.0/app/${appId}/auth/providers/anon-user/login`, { method: "POST" })).json();
    const bearer = { Authorization: `Bearer ${login.access_token}` };
    const onB = await call(`${b.base}/whoami`, { headers: bearer });
    expect(onB.status).toBe(200);
    expect(onB.json()).toEqual({ id: login.user_id, type: "normal" });

    // Restart A on the same store: the token still works there.
    await a.stop();
    servers.splice(servers.indexOf(a), 1);
    const a2 = await serveApp(spec, options);
    servers.push(a2);
    expect((await call(`${a2.base}/whoami`, { headers: bearer })).status).toBe(200);

    // Delete the user through B; its token stops working on both servers.
    expect((await call(`${b.url}/api/client/v2.0/auth/delete`, { method: "DELETE", headers: bearer })).status).toBeLessThan(300);
    await new Promise((r) => setTimeout(r, 1_200)); // each server caches a user for at most 1 s
    for (const s of [a2, b]) {
      const r = await call(`${s.base}/whoami`, { headers: bearer });
      expect(r.status).toBe(401);
      expect(r.json().error_code).toBe("InvalidSession");
    }
  }, 60_000);
});
