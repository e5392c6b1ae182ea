// Builds the SDK and the CLI (`npm run build:sdk`: dist/client, dist/cli) unless
// a build of the current sources exists. Used by the tests that run what the
// package ships: the built CLI, examples/consumer, the `npm pack` tarball.
import path from "node:path";
import { ensureBuilt, type BuildResult } from "./build-cache";

const root = path.resolve(import.meta.dirname, "..");

/** Build when needed. Throws with tsup's output when the build fails. */
export function ensureSdkBuild(): BuildResult {
  return ensureBuilt({
    root,
    /**
     * What dist/ depends on: the SDK and the CLI, and the server modules and
     * Prisma schema whose types the bundled .d.ts inlines (AppRouter); the
     * build configuration, and package.json (tsup writes dist/package.json from it).
     */
    sources: {
      dirs: ["src/cli", "src/client", "src/server", "src/shared"],
      files: ["prisma/schema.prisma", "tsup.config.ts", "package.json", "package-lock.json", "tsconfig.json"],
    },
    outputs: ["dist/client/index.js", "dist/client/index.d.ts", "dist/cli/index.js", "dist/package.json"],
    stampFile: path.join(root, "dist", "parley-build.sha256"),
    lockDir: path.join(root, ".sdk-build.lock"),
    command: process.platform === "win32" ? "npm.cmd" : "npm",
    args: ["run", "build:sdk"],
    label: "npm run build:sdk",
  });
}
