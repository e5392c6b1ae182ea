// Builds that are skipped when their sources have not changed (the web build,
// the SDK build): a digest of the sources to compare with the last build's, and
// a lock between processes, so two test files, or a test run and `npm start`,
// never build over each other.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export type BuildResult = { built: false } | { built: true; seconds: number };

/** A build that is skipped when its outputs exist and were built from the current sources. */
export interface CachedBuild {
  root: string;
  /** What the outputs depend on, relative to `root`. */
  sources: { dirs: string[]; files: string[] };
  /** Files (relative to `root`) a finished build has written. */
  outputs: string[];
  /** Holds the digest of the sources the outputs were built from. */
  stampFile: string;
  lockDir: string;
  /** The build command, run in `root`; `label` names it in the error when it fails. */
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  label: string;
}

/** Build unless the outputs are current (always with `force`), holding the build's lock. Throws with the command's output when it fails. */
export function ensureBuilt(build: CachedBuild, force = false): BuildResult {
  return withBuildLock(build.lockDir, () => {
    const digest = sourceDigest(build.root, build.sources);
    const current =
      build.outputs.every((file) => fs.existsSync(path.join(build.root, file))) &&
      fs.existsSync(build.stampFile) &&
      fs.readFileSync(build.stampFile, "utf8") === digest;
    if (current && !force) return { built: false };
    const started = Date.now();
    const result = spawnSync(build.command, build.args, { cwd: build.root, env: build.env ?? process.env, encoding: "utf8" });
    if (result.status !== 0) {
      throw new Error(`${build.label} failed (exit ${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`);
    }
    fs.writeFileSync(build.stampFile, digest);
    return { built: true, seconds: (Date.now() - started) / 1000 };
  });
}

/** A digest of the files under `dirs` and of `files` (those that exist), all relative to `root`. */
function sourceDigest(root: string, { dirs, files }: { dirs: string[]; files: string[] }): string {
  const hash = createHash("sha256");
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else found.push(full);
    }
  };
  for (const dir of dirs) walk(path.join(root, dir));
  for (const file of files) {
    if (fs.existsSync(path.join(root, file))) found.push(path.join(root, file));
  }
  for (const file of found.sort()) {
    hash.update(path.relative(root, file));
    hash.update(fs.readFileSync(file));
  }
  return hash.digest("hex");
}

/** Locks older than this belong to a build that died. */
const STALE_MS = 300_000;

/** Run `work` holding `lockDir` (a directory: mkdir is atomic); waits up to 5 minutes for another holder. */
function withBuildLock<T>(lockDir: string, work: () => T): T {
  const deadline = Date.now() + STALE_MS;
  for (;;) {
    try {
      fs.mkdirSync(lockDir);
      break;
    } catch {
      const age = Date.now() - (fs.statSync(lockDir, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > STALE_MS) fs.rmSync(lockDir, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`waited 5 minutes for another build (${lockDir})`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
    }
  }
  try {
    return work();
  } finally {
    fs.rmSync(lockDir, { recursive: true, force: true });
  }
}
