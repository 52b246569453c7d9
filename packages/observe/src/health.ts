/**
 * GET /healthz (the process answers), GET /readyz (it should be sent traffic: every readiness check
 * passes) and GET /metrics, as plain `() => Response` handlers a server mounts ahead of its routes.
 */
import type { Redactor } from "./redact.js";

export interface ReadinessCheck {
  /** Shown in the /readyz body, e.g. "apps", "runtime", "data:mongodb-atlas". */
  name: string;
  /** Throw (or reject) when not ready; the message is shown, redacted. */
  check(): void | Promise<void>;
}

export interface ProbeOptions {
  /** /readyz checks, run concurrently. */
  readiness: ReadinessCheck[];
  /** The /metrics body (Prometheus text); absent = no /metrics route. */
  metrics?: () => Promise<string>;
  metricsContentType?: string;
  /** A check that has not answered by then fails (ms). Default 2000. */
  checkTimeoutMs?: number;
  redact: Redactor;
}

export type Probes = Record<string, () => Promise<Response>>;

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });

export function healthProbes(options: ProbeOptions): Probes {
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const probes: Probes = {
    "/healthz": async () => json(200, { status: "ok" }),
    "/readyz": async () => {
      const results = await Promise.all(options.readiness.map((c) => runCheck(c, timeoutMs, options.redact)));
      const checks = Object.fromEntries(options.readiness.map((c, i) => [c.name, results[i]!]));
      const ready = results.every((r) => r === "ok");
      return json(ready ? 200 : 503, { status: ready ? "ready" : "not ready", checks });
    },
  };
  const metrics = options.metrics;
  if (metrics) {
    probes["/metrics"] = async () => {
      try {
        return new Response(await metrics(), { status: 200, headers: { "content-type": options.metricsContentType ?? "text/plain; version=0.0.4; charset=utf-8" } });
      } catch (e) {
        return json(503, { error: `metrics unavailable: ${options.redact((e as Error).message ?? String(e))}`, error_code: "MetricsUnavailable" });
      }
    };
  }
  return probes;
}

async function runCheck(c: ReadinessCheck, timeoutMs: number, redact: Redactor): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return "ok";
  } catch (e) {
    return redact(e instanceof Error ? e.message : String(e));
  } finally {
    clearTimeout(timer);
  }
}
