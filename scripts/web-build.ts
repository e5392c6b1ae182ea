// Builds the Next.js app unless a build of the current sources exists. Used by
// `npm start` (scripts/prepare.ts) and by the test suite's global setup.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const stampFile = path.join(root, ".next", "parley-build.sha256");

/** A digest of everything a Next build depends on. */
function sourceDigest(): string {
  const hash = createHash("sha256");
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "generated") walk(full);
      } else files.push(full);
    }
  };
  walk(path.join(root, "src"));
  for (const file of ["next.config.mjs", "package-lock.json", "tsconfig.json", "postcss.config.mjs"]) {
    if (fs.existsSync(path.join(root, file))) files.push(path.join(root, file));
  }
  for (const file of files.sort()) {
    hash.update(path.relative(root, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest("hex");
}

export type WebBuildResult = { built: false } | { built: true; seconds: number };

/** Build when needed (or always with `force`). Throws with Next's output when the build fails. */
export function ensureWebBuild({ force = false } = {}): WebBuildResult {
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
