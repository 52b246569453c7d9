import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    // isolated-vm needs --no-node-snapshot in every process that loads it.
    pool: "forks",
    execArgv: ["--no-node-snapshot"],
    testTimeout: 30_000,
    reporters: ["default", "./test/summary-reporter.ts"],
    hookTimeout: 60_000,
  },
});
