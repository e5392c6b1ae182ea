// Builds the package into dist/: JavaScript (ESM, one file per module) and
// .d.ts, compiled by tsc with src/server-types.ts replaced by the server's
// types printed as plain TypeScript (print-server-types.ts). The result names
// only @trpc/client, @trpc/server, superjson, ws, eventsource, commander and,
// for the `react` subpath, react and the TanStack/tRPC React packages.
//
//   npm run build -w @parley/client        (or: npx tsx packages/client/scripts/build.ts)
import fs from "node:fs";
import path from "node:path";
import ts from "typescript";
import { printServerTypes } from "./print-server-types";

const packageDir = path.resolve(import.meta.dirname, "..");
const repoRoot = path.resolve(packageDir, "..", "..");
const srcDir = path.join(packageDir, "src");
const outDir = path.join(packageDir, "dist");
const bridge = path.join(srcDir, "server-types.ts");

/** The package's modules: every .ts/.tsx under src/. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/** Relative specifiers in the emitted .js and .d.ts files get the `.js` (or `/index.js`) Node's ESM resolution needs. */
function addExtensions(dir: string): void {
  for (const file of fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).map((f) => path.join(dir, f))) {
    if (!/\.(js|d\.ts)$/.test(file)) continue;
    const text = fs.readFileSync(file, "utf8").replace(/(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)"(\.\.?\/[^"]*)"/g, (whole, head: string, specifier: string) => {
      if (/\.(js|json)$/.test(specifier)) return whole;
      const target = path.resolve(path.dirname(file), specifier);
      const resolved = fs.existsSync(`${target}.js`) ? `${specifier}.js` : fs.existsSync(path.join(target, "index.js")) ? `${specifier}/index.js` : null;
      if (!resolved) throw new Error(`${path.relative(outDir, file)}: cannot resolve "${specifier}"`);
      return `${head}"${resolved}"`;
    });
    fs.writeFileSync(file, text);
  }
}

export function buildClientPackage(): void {
  const serverTypes = printServerTypes(repoRoot, bridge);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    // The sources import without extensions (as the rest of the repository, and as Next's
    // bundler resolves them); the emitted files get theirs below, for Node's ESM resolution.
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    types: ["node"],
    jsx: ts.JsxEmit.ReactJSX,
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    esModuleInterop: true,
    declaration: true,
    // Implementation details (marked @internal) stay out of the .d.ts, and so do the types they use (ws, node:http).
    stripInternal: true,
    rootDir: srcDir,
    outDir,
    // Resolve packages from the repository's node_modules (the workspace has none of its own).
    typeRoots: [path.join(repoRoot, "node_modules", "@types")],
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  host.readFile = (file) => (path.resolve(file) === bridge ? serverTypes : readFile(file));
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, languageVersion, onError, shouldCreate) =>
    path.resolve(file) === bridge ? ts.createSourceFile(file, serverTypes, languageVersion, true) : getSourceFile(file, languageVersion, onError, shouldCreate);

  fs.rmSync(outDir, { recursive: true, force: true });
  const program = ts.createProgram({ rootNames: sources(srcDir), options, host });
  const emitted = program.emit();
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (diagnostics.length > 0) {
    throw new Error(ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => packageDir, getNewLine: () => "\n" }));
  }
  const outside = program.getSourceFiles().filter((f) => !f.isDeclarationFile && !f.fileName.startsWith(srcDir));
  if (outside.length > 0) throw new Error(`the package compiled files outside src/: ${outside.map((f) => f.fileName).join(", ")}`);
  addExtensions(outDir);
  // The CLI is a bin, not an import: its declarations would only name commander.
  for (const file of fs.readdirSync(path.join(outDir, "cli"))) if (file.endsWith(".d.ts")) fs.rmSync(path.join(outDir, "cli", file));
  fs.chmodSync(path.join(outDir, "cli", "index.js"), 0o755);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const started = Date.now();
  buildClientPackage();
  console.log(`@parley/client built into ${path.relative(process.cwd(), outDir) || "."} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
