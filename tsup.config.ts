// Builds the SDK (dist/client) and the CLI (dist/cli) as ESM for Node 20 and
// bundlers. Dependencies stay external (installed with the package). The SDK's
// .d.ts is bundled with the server's router types inlined, so `AppRouter`
// travels with it.
import { defineConfig } from "tsup";

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
