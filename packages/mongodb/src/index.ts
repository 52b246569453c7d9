export * from "./types.js";
export { DataServiceError, isDataServiceError, type DataServiceErrorCode } from "./errors.js";
export { createEmbeddedDataService, type EmbeddedOptions } from "./embedded/index.js";
export { createDriverDataService, type DriverOptions } from "./driver.js";
export { createServiceBinding, MONGODB_SERVICE_TYPE } from "./binding.js";
export { mongodbGuestClient } from "./guest-client.js";
export { createRulesEngine, rulesFor, type RulesContext, type FieldPermission, type FilterDef, type RoleDef, type RuleSet, type RulesSource } from "./rules/index.js";
