// Builds the client package (`npm run build:sdk`: packages/client/dist, the SDK,
// its React bindings and the CLI) unless a build of the current sources exists.
// Used by the tests that run what the package ships: the built CLI, the API
// report, the `npm pack` tarball.
import path from "node:path";
import { ensureBuilt, type BuildResult } from "./build-cache";

const root = path.resolve(import.meta.dirname, "..");

/** Where the package lives and where its build goes. */
export const clientPackageDir = path.join(root, "packages", "client");

/** Build when needed. Throws with the build's output when it fails. */
export function ensureSdkBuild(): BuildResult {
  return ensureBuilt({
    root,
    /**
     * What dist/ depends on: the package's sources and build scripts, and the
     * server modules and Prisma schema whose types it prints (AppRouter).
     */
    sources: {
      dirs: ["packages/client/src", "packages/client/scripts", "src/server", "src/shared"],
      files: ["prisma/schema.prisma", "packages/client/package.json", "package-lock.json", "tsconfig.json"],
    },
    outputs: ["index.js", "index.d.ts", "react.js", "react.d.ts", "server-types.d.ts", "cli/index.js"].map((f) => `packages/client/dist/${f}`),
    stampFile: path.join(clientPackageDir, ".build.sha256"),
    lockDir: path.join(root, ".sdk-build.lock"),
    command: process.platform === "win32" ? "npm.cmd" : "npm",
    args: ["run", "build:sdk"],
    label: "npm run build:sdk",
  });
}
