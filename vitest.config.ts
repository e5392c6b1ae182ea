import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/global-setup.ts"],
    // The watchdog ends a run that hangs (a blocked worker, a pool that does not close) and names the file.
    reporters: ["default", "./tests/reporters/watchdog.ts"],
    teardownTimeout: 20_000,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Two cores here: two test files at a time keep timings sane.
    maxWorkers: 2,
  },
});
