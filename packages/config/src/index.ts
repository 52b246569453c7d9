export { loadApp, type LoadOptions } from "./load.js";
export { AppConfigError, formatProblem } from "./problems.js";
export type * from "./types.js";
