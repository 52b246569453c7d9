export * from "./types.js";
export { createRuntime, DEFAULT_POOL } from "./runtime.js";
export { DEFAULT_LIMITS, resolveLimits } from "./limits.js";
export { makeCodec } from "./codec.js";
export { assertIsolatedVmVersion, compareVersions, MIN_ISOLATED_VM } from "./version.js";
export { superviseWorkers, attachWorker, belongsElsewhere, gatherFromSupervisor, isWorkerProcess, askQuarantine, sendToSupervisor, type QuarantineOptions, type SuperviseOptions, type Supervisor, type SupervisorEvent, type WorkerHooks } from "./supervise.js";
