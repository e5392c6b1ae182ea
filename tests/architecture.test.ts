// The layout rules docs/architecture.md states, checked on the sources: no
// import cycles in src/, `ws` and tRPC's WebSocket adapter only in the
// realtime layer, the generated Prisma client only where storage lives; the
// client package (packages/client) reaches the server only through its
// server-types.ts, for types, and imports no server library.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..");
const src = path.join(root, "src");

/** Every .ts/.tsx file under `dir`, generated code left out. */
function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "generated" ? [] : sources(full);
    return /\.tsx?$/.test(entry.name) ? [full] : [];
  });
}

/** The module specifiers `file` imports or re-exports (type-only ones included: a type cycle is still a cycle). */
function specifiers(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+"([^"]+)"/gms)) found.push(match[1] ?? "");
  for (const match of text.matchAll(/^\s*import\s+"([^"]+)"/gm)) found.push(match[1] ?? "");
  for (const match of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) found.push(match[1] ?? "");
  return found;
}

/** A relative or `@/` specifier as a file path under src/; null for packages. */
function resolve(from: string, specifier: string): string | null {
  const base = specifier.startsWith("@/") ? path.join(src, specifier.slice(2)) : specifier.startsWith(".") ? path.resolve(path.dirname(from), specifier) : null;
  if (base === null) return null;
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, path.join(base, "index.ts"), path.join(base, "index.tsx")]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return null;
}

const clientPackage = path.join(root, "packages", "client", "src");
const files = sources(src);
const graph = new Map(files.map((file) => [file, specifiers(file)]));
const relative = (file: string) => path.relative(root, file);

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
function cycles(): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (file: string) => {
    index.set(file, next);
    low.set(file, next);
    next++;
    stack.push(file);
    onStack.add(file);
    for (const target of (graph.get(file) ?? []).map((s) => resolve(file, s)).filter((t): t is string => t !== null)) {
      if (!index.has(target)) {
        visit(target);
        low.set(file, Math.min(low.get(file) ?? 0, low.get(target) ?? 0));
      } else if (onStack.has(target)) {
        low.set(file, Math.min(low.get(file) ?? 0, index.get(target) ?? 0));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    for (;;) {
      const member = stack.pop() as string;
      onStack.delete(member);
      component.push(relative(member));
      if (member === file) break;
    }
    const selfImport = (graph.get(file) ?? []).some((s) => resolve(file, s) === file);
    if (component.length > 1 || selfImport) found.push(component.sort());
  };
  for (const file of files) if (!index.has(file)) visit(file);
  return found;
}

/** Files outside `allowed` (path prefixes under the repository) that import a specifier matching `pattern`. */
function importersOutside(pattern: RegExp, allowed: string[]): string[] {
  return files
    .filter((file) => !allowed.some((prefix) => relative(file).startsWith(prefix)))
    .filter((file) => (graph.get(file) ?? []).some((s) => pattern.test(s) || pattern.test(relative(resolve(file, s) ?? ""))))
    .map(relative);
}

describe("source layout", () => {
  it("has no import cycles in src/", () => {
    expect(cycles()).toEqual([]);
  });

  it("touches WebSockets and frames only in src/server/realtime/", () => {
    expect(importersOutside(/^ws$|^@trpc\/server\/adapters\/ws$/, ["src/server/realtime/"])).toEqual([]);
  });

  it("the client package imports the server only in server-types.ts, for types, and no server library", () => {
    const bridge = path.join(clientPackage, "server-types.ts");
    const outsideImports = sources(clientPackage).flatMap((file) =>
      specifiers(file)
        .filter((s) => s.startsWith(".") && !path.resolve(path.dirname(file), s).startsWith(clientPackage))
        .map((s) => `${relative(file)} -> ${s}`),
    );
    expect(outsideImports.every((line) => line.startsWith(relative(bridge)))).toBe(true);
    expect(fs.readFileSync(bridge, "utf8")).not.toMatch(/^\s*(import|export)\s+(?!type\b)[^;]*\sfrom\s/m);
    const serverLibraries = /^(@prisma\/|prisma$|better-sqlite3$|ioredis$|pino$|pg$|next($|\/)|zod($|\/)|prom-client$|@\/)/;
    const libraryImports = sources(clientPackage).flatMap((file) => specifiers(file).filter((s) => serverLibraries.test(s)).map((s) => `${relative(file)} -> ${s}`));
    expect(libraryImports).toEqual([]);
  });

  it("uses the generated Prisma client only in storage, services and features that own their tables (types excepted)", () => {
    // Value imports of the generated client: the Prisma namespace and its runtime helpers.
    const valueImporters = files
      .filter((file) => /^\s*import\s+(?!type\b)[^;]*from\s+"[^"]*generated\/prisma/m.test(fs.readFileSync(file, "utf8")))
      .map(relative);
    // metrics/db-queries.ts reads the model names to label statements; memory/ owns the memory tables and
    // their full-text index, search/ the messages' full-text index (both query them in raw SQL).
    const allowed = ["src/server/db.ts", "src/server/services/", "src/server/chat/", "src/server/auth/", "src/server/memory/", "src/server/search/", "src/server/metrics/db-queries.ts"];
    expect(valueImporters.filter((file) => !allowed.some((prefix) => file.startsWith(prefix)))).toEqual([]);
  });
});
