/** `restitch check`: validate an app directory (every problem, exit 1) and print its endpoint table. */
import { loadApp, type AppModel, type EndpointDef } from "@restitch/config";
import { formatProblem } from "@restitch/config";
import { parse, stringOption, UsageError } from "./args.js";

export async function check(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { secrets: { type: "string" } });
  if (positionals.length !== 1) throw new UsageError("check needs exactly one <appDir>");
  const secretsFile = stringOption(values.secrets);
  const app = await loadApp(positionals[0]!, secretsFile ? { secretsFile } : {});
  for (const w of app.warnings) console.log(`warning: ${formatProblem(w)}`);
  console.log(`app '${app.appId}' (${app.name}) is valid: ${app.functions.size} functions, ${app.endpoints.length} endpoints`);
  if (app.endpoints.length > 0) console.log("\n" + endpointTable(app));
  return 0;
}

function runsAs(ep: EndpointDef): string {
  if (ep.runAsSystem) return "system";
  if (ep.runAsUserId) return `user ${ep.runAsUserId}`;
  if (ep.runAsUserIdScriptSource) return "script";
  return "application auth";
}

export function endpointTable(app: AppModel): string {
  const rows = [["METHOD", "URL", "FUNCTION", "RUNS AS", "VALIDATION", "RETURN", "NOTES"]];
  for (const ep of app.endpoints) {
    const notes = [ep.disabled ? "disabled" : "", ep.respondResult ? "" : "no result", ep.canEvaluate !== undefined ? "can_evaluate" : ""];
    rows.push([
      ep.httpMethod,
      `/app/${app.appId}/endpoint${ep.route}`,
      ep.functionName,
      runsAs(ep),
      ep.validationMethod,
      ep.returnType,
      notes.filter(Boolean).join(", "),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}
