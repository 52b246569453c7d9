/**
 * can_evaluate (spec §3): absent or {} allows the request; otherwise the expression must be true.
 * %function calls run in the app's isolates as the request's user; a function that throws makes the
 * expression false (the expressions package handles that).
 */
import type { EndpointDef } from "@restitch/config";
import { evaluate, type ExpressionContext } from "@restitch/expressions";
import type { AppRuntime, HostBridge } from "@restitch/runtime";
import { errors, HttpError } from "./errors.js";

export async function checkCanEvaluate(
  endpoint: Pick<EndpointDef, "canEvaluate" | "route" | "functionName">,
  ctx: Omit<ExpressionContext, "callFunction">,
  runtime: AppRuntime,
  bridge: HostBridge,
): Promise<void> {
  const expr = endpoint.canEvaluate;
  if (expr === undefined || expr === true) return;
  if (typeof expr === "object" && expr !== null && Object.keys(expr).length === 0) return;
  let allowed: boolean;
  try {
    allowed = await evaluate(expr, {
      ...ctx,
      callFunction: async (name, args) => {
        const r = await runtime.call({ functionName: name, args, bridge });
        if (!r.ok) throw new Error(r.error!.message);
        return r.value;
      },
    });
  } catch (e) {
    // A malformed expression is the app's fault: say what is wrong, without running the function.
    throw new HttpError(500, "InternalServerError", `can_evaluate of endpoint '${endpoint.route}': ${(e as Error).message}`);
  }
  if (!allowed) throw errors.canEvaluateFailed(endpoint.functionName);
}
