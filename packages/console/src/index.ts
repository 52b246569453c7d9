/** @restitch/console: the local console at /_restitch/ (endpoint tables, recent runs, a try-it form). */
export { createConsole, CONSOLE_PATH, type ConsoleOptions, type RunListItem } from "./console.js";
export { RunLog, summarizeCall, RUN_LOG_BYTES, type Run, type RunSummary, type RunLogOptions, type RunQuery } from "./runs.js";
export { appSummary, endpointRow, runsAs, type AppSummary, type EndpointRow } from "./endpoints.js";
export { generateToken, tokenChecker, tokenProblem, MIN_TOKEN_LENGTH } from "./token.js";
export { acceptRuns, runReporter, supervisorRelay, type RunReport, type RunReporter, type RunsUpdate } from "./relay.js";
