// Builds the SDK (dist/client) and the CLI (dist/cli) as ESM for Node 20 and
// bundlers. Dependencies stay external (installed with the package). The SDK's
// .d.ts is bundled with the server's router types inlined, so `AppRouter`
// travels with it.
import fs from "node:fs";
import { defineConfig } from "tsup";

/**
 * dist/ is also a package of its own (dist/package.json): examples/consumer
 * depends on it by path (`file:../../dist`). A path dependency on the
 * repository root would put a symlink to the root inside the repository,
 * and Next's Turbopack build follows it in an endless loop.
 */
function writeDistPackage(): void {
  const root = JSON.parse(fs.readFileSync("package.json", "utf8")) as { version: string; dependencies: Record<string, string> };
  const runtime = ["@trpc/client", "@trpc/server", "superjson", "ws", "eventsource", "commander"];
  // Types only: the bundled .d.ts names these packages (the router's context and Prisma models).
  const types = ["@prisma/client", "zod", "pino"];
  const pick = (names: string[]) => Object.fromEntries(names.map((n) => [n, root.dependencies[n] ?? "*"]));
  const pkg = {
    name: "parley",
    version: root.version,
    private: true,
    type: "module",
    exports: { "./client": { types: "./client/index.d.ts", import: "./client/index.js" } },
    bin: { parley: "cli/index.js" },
    dependencies: { ...pick(runtime), ...pick(types) },
  };
  fs.mkdirSync("dist", { recursive: true });
  fs.writeFileSync("dist/package.json", `${JSON.stringify(pkg, null, 2)}\n`);
}

export default defineConfig([
  {
    entry: { "client/index": "src/client/index.ts" },
    outDir: "dist",
    format: ["esm"],
    target: "node20",
    platform: "neutral",
    sourcemap: true,
    clean: false,
    // tsup's dts worker passes --incremental from tsconfig.json unless told otherwise (TS5074).
    dts: { compilerOptions: { incremental: false } },
    onSuccess: () => Promise.resolve(writeDistPackage()),
  },
  {
    // The CLI bundles its own copy of the SDK (it is small); the shebang in src/cli/index.ts is kept.
    entry: { "cli/index": "src/cli/index.ts" },
    outDir: "dist",
    format: ["esm"],
    target: "node20",
    platform: "node",
    sourcemap: true,
    clean: false,
  },
]);
