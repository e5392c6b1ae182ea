// Bundles the Prisma Studio page (src/studio/browser.tsx with studio-core's UI
// and React) for the browser, unless a bundle of the current sources exists.
// Used by `npm run studio` (scripts/studio.ts) before it serves the page.
import path from "node:path";
import { ensureBuilt, type BuildResult } from "./build-cache";

const root = path.resolve(import.meta.dirname, "..");

/** Where the bundle lives: browser.js and browser.css (node_modules/.cache: never committed, rebuilt after an install). */
export const studioBundleDir = path.join(root, "node_modules", ".cache", "parley-studio");

/** Bundle when needed (about 3 s). Throws with esbuild's output when it fails. */
export function ensureStudioBundle(): BuildResult {
  return ensureBuilt({
    root,
    sources: { dirs: [], files: ["src/studio/browser.tsx", "package-lock.json", "scripts/studio-build.ts"] },
    outputs: [path.relative(root, path.join(studioBundleDir, "browser.js")), path.relative(root, path.join(studioBundleDir, "browser.css"))],
    stampFile: path.join(studioBundleDir, "parley-build.sha256"),
    lockDir: path.join(root, ".studio-build.lock"),
    command: path.join(root, "node_modules", ".bin", "esbuild"),
    args: [
      "src/studio/browser.tsx",
      "--bundle",
      "--format=esm",
      "--minify",
      "--log-level=warning",
      `--outdir=${studioBundleDir}`,
      '--define:process.env.NODE_ENV="production"',
      // studio-core reads its telemetry opt-out from import.meta.env in a browser: the page never calls Prisma's checkpoint server.
      '--define:import.meta.env={"CHECKPOINT_DISABLE":"1"}',
    ],
    label: "the Prisma Studio bundle (esbuild)",
  });
}
