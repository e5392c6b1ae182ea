// Builds the Next.js app unless a build of the current sources exists. Used by
// `npm start` (scripts/prepare.ts) and by the test suite's global setup.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const stampFile = path.join(root, ".next", "parley-build.sha256");

/**
 * A digest of everything the Next build's output depends on: the UI, the
 * client SDK and shared schemas it bundles, and the build configuration.
 * Server modules reach the bundle only as types (AppRouter), which the build
 * does not check (`npm run typecheck` does), so they are left out.
 */
function sourceDigest(): string {
  const hash = createHash("sha256");
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  for (const dir of ["app", "client", "shared"]) walk(path.join(root, "src", dir));
  for (const file of ["next.config.mjs", "package-lock.json", "tsconfig.json", "postcss.config.mjs"]) {
    if (fs.existsSync(path.join(root, file))) files.push(path.join(root, file));
  }
  for (const file of files.sort()) {
    hash.update(path.relative(root, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest("hex");
}

const lockDir = path.join(root, ".next-build.lock");

/** Serialise builds between processes (a test run and `npm start` at once): a directory is an atomic lock. */
function withBuildLock<T>(work: () => T): T {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      break;
    } catch {
      // A lock older than 5 minutes belongs to a build that died.
      const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) fs.rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`waited 5 minutes for another web build (${lockDir})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    return work();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}

export type WebBuildResult = { built: false } | { built: true; seconds: number };

/** Build when needed (or always with `force`). Throws with Next's output when the build fails. */
export function ensureWebBuild({ force = false } = {}): WebBuildResult {
  return withBuildLock(() => buildIfStale(force));
}

function buildIfStale(force: boolean): WebBuildResult {
  const digest = sourceDigest();
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
