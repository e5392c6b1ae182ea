// Builds the Next.js app unless a build of the current sources exists. Used by
// `npm start` (scripts/prepare.ts) and by the test suite's global setup.
import path from "node:path";
import { ensureBuilt, type BuildResult } from "./build-cache";

const root = path.resolve(import.meta.dirname, "..");

/** Build when needed (or always with `force`). Throws with Next's output when the build fails. */
export function ensureWebBuild({ force = false } = {}): BuildResult {
  return ensureBuilt(
    {
      root,
      /**
       * Everything the Next build's output depends on: the UI, the client SDK
       * and shared schemas it bundles, and the build configuration. Server
       * modules reach the bundle only as types (AppRouter), which the build
       * does not check (`npm run typecheck` does), so they are left out.
       */
      sources: {
        dirs: ["src/app", "packages/client/src", "src/shared"],
        files: ["next.config.mjs", "package-lock.json", "tsconfig.json", "postcss.config.mjs"],
      },
      outputs: [".next/BUILD_ID"],
      stampFile: path.join(root, ".next", "parley-build.sha256"),
      lockDir: path.join(root, ".next-build.lock"),
      command: path.join(root, "node_modules", ".bin", "next"),
      args: ["build"],
      env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
      label: "next build",
    },
    force,
  );
}
