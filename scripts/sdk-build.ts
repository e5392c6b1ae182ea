// Builds the SDK and the CLI (`npm run build:sdk`: dist/client, dist/cli) unless
// a build of the current sources exists. Used by the tests that run what the
// package ships: the built CLI, examples/consumer, the `npm pack` tarball.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { sourceDigest, withBuildLock } from "./build-cache";

const root = path.resolve(import.meta.dirname, "..");
const stampFile = path.join(root, "dist", "parley-build.sha256");
const lockDir = path.join(root, ".sdk-build.lock");

/**
 * What dist/ depends on: the SDK and the CLI, and the server modules and
 * Prisma schema whose types the bundled .d.ts inlines (AppRouter); the
 * build configuration, and package.json (tsup writes dist/package.json from it).
 */
const sdkSources = {
  dirs: ["src/cli", "src/client", "src/server", "src/shared"],
  files: ["prisma/schema.prisma", "tsup.config.ts", "package.json", "package-lock.json", "tsconfig.json"],
};

export type SdkBuildResult = { built: false } | { built: true; seconds: number };

/** Build when needed. Throws with tsup's output when the build fails. */
export function ensureSdkBuild(): SdkBuildResult {
  return withBuildLock(lockDir, () => {
    const digest = sourceDigest(root, sdkSources);
    const built = ["client/index.js", "client/index.d.ts", "cli/index.js", "package.json"].every((f) => fs.existsSync(path.join(root, "dist", f)));
    if (built && fs.existsSync(stampFile) && fs.readFileSync(stampFile, "utf8") === digest) return { built: false };
    const started = Date.now();
    const result = spawnSync(process.platform === "win32" ? "npm.cmd" : "npm", ["run", "build:sdk"], { cwd: root, encoding: "utf8" });
    if (result.status !== 0) {
      throw new Error(`npm run build:sdk failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
    }
    fs.writeFileSync(stampFile, digest);
    return { built: true, seconds: (Date.now() - started) / 1000 };
  });
}
