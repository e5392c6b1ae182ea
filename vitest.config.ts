import path from "node:path";
import { defineConfig } from "vitest/config";

// The repository's code imports the client package from its sources (as tsconfig.json's paths do);
// the built package is what tests/npm-pack.test.ts installs.
const clientSources = path.resolve(import.meta.dirname, "packages/client/src");

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@parley\/client$/, replacement: path.join(clientSources, "index.ts") },
      { find: /^@parley\/client\/react$/, replacement: path.join(clientSources, "react.tsx") },
    ],
  },
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
