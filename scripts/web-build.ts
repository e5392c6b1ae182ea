// Builds the Next.js app unless a build of the current sources exists. Used by
// `npm start` (scripts/prepare.ts) and by the test suite's global setup.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { sourceDigest, withBuildLock } from "./build-cache";

const root = path.resolve(import.meta.dirname, "..");
const stampFile = path.join(root, ".next", "parley-build.sha256");

/**
 * A digest of everything the Next build's output depends on: the UI, the
 * client SDK and shared schemas it bundles, and the build configuration.
 * Server modules reach the bundle only as types (AppRouter), which the build
 * does not check (`npm run typecheck` does), so they are left out.
 */
const webSources = {
  dirs: ["src/app", "src/client", "src/shared"],
  files: ["next.config.mjs", "package-lock.json", "tsconfig.json", "postcss.config.mjs"],
};

const lockDir = path.join(root, ".next-build.lock");

export type WebBuildResult = { built: false } | { built: true; seconds: number };

/** Build when needed (or always with `force`). Throws with Next's output when the build fails. */
export function ensureWebBuild({ force = false } = {}): WebBuildResult {
  return withBuildLock(lockDir, () => buildIfStale(force));
}

function buildIfStale(force: boolean): WebBuildResult {
  const digest = sourceDigest(root, webSources);
  const current =
    fs.existsSync(path.join(root, ".next", "BUILD_ID")) &&
    fs.existsSync(stampFile) &&
    fs.readFileSync(stampFile, "utf8") === digest;
  if (current && !force) return { built: false };
  const started = Date.now();
  const result = spawnSync(path.join(root, "node_modules", ".bin", "next"), ["build"], {
    cwd: root,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", NODE_ENV: "production" },
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Error(`next build failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
  fs.writeFileSync(stampFile, digest);
  return { built: true, seconds: (Date.now() - started) / 1000 };
}
