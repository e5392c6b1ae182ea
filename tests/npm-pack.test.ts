// @parley/client as a user gets it: `npm pack` of packages/client, the tarball
// installed with install scripts on into a copy of examples/consumer outside
// the repository (which holds only its TypeScript toolchain), and measured:
// the packages and bytes the client adds, and that nothing in them builds
// native code or runs an install script. Then the copy type-checks against
// the router types the package ships (and a misspelled field fails), runs
// `tail` and `ask` against a real server, and the package's `parley` bin works.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clientPackageDir, ensureSdkBuild } from "../scripts/sdk-build";
import { createPrincipalWithToken } from "../src/server/auth/tokens";
import { npm, sh, type CommandResult } from "./helpers/command";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

const offline = ["--prefer-offline", "--no-audit", "--no-fund"];
const MAX_PACKAGES = 15;
const MAX_BYTES = 15 * 1024 * 1024;

interface InstalledTree {
  /** "name@version" of every package under node_modules (nested ones too). */
  packages: string[];
  bytes: number;
  /** Packages with an install script or a native addon (binding.gyp, *.node). */
  native: string[];
}

/** What node_modules holds: packages, their size on disk (file sizes), and any that would build or run at install. */
function inspect(nodeModules: string): InstalledTree {
  const tree: InstalledTree = { packages: [], bytes: 0, native: [] };
  const visitPackage = (dir: string) => {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string; version: string; scripts?: Record<string, string> };
    tree.packages.push(`${manifest.name}@${manifest.version}`);
    const scripts = manifest.scripts ?? {};
    const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" });
    if (["preinstall", "install", "postinstall"].some((s) => s in scripts) || files.some((f) => f.endsWith("binding.gyp") || f.endsWith(".node"))) {
      tree.native.push(manifest.name);
    }
  };
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) {
        const parent = path.basename(dir);
        const isPackageDir = (parent === "node_modules" || (parent.startsWith("@") && path.basename(path.dirname(dir)) === "node_modules")) && !entry.name.startsWith(".");
        if (isPackageDir && !entry.name.startsWith("@") && fs.existsSync(path.join(full, "package.json"))) visitPackage(full);
        walk(full);
      } else {
        tree.bytes += fs.statSync(full).size;
      }
    }
  };
  if (fs.existsSync(nodeModules)) walk(nodeModules);
  return tree;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

let dir: string;
let consumerDir: string;
let packed: { filename: string; files: { path: string }[]; unpackedSize: number };
let toolchain: InstalledTree;
let withClient: InstalledTree;
let installed: CommandResult;
let t: TestServer;

beforeAll(async () => {
  ensureSdkBuild();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-pack-"));
  // The build is current (ensureSdkBuild): pack it as it is, without prepack building it again.
  const pack = await sh(npm, ["pack", "--json", "--ignore-scripts", "--pack-destination", dir], clientPackageDir);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  [packed] = JSON.parse(pack.stdout) as [typeof packed];

  // examples/consumer without its path dependency: the tarball replaces it.
  consumerDir = path.join(dir, "consumer");
  fs.cpSync(path.join(repoRoot, "examples", "consumer", "src"), path.join(consumerDir, "src"), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, "examples", "consumer", "tsconfig.json"), path.join(consumerDir, "tsconfig.json"));
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "examples", "consumer", "package.json"), "utf8")) as { dependencies: Record<string, string> };
  delete manifest.dependencies["@parley/client"];
  fs.writeFileSync(path.join(consumerDir, "package.json"), JSON.stringify(manifest, null, 2));

  // The project's own toolchain first (TypeScript, @types/node), then the client on top of it, install scripts on.
  const tools = await sh(npm, ["install", ...offline], consumerDir);
  if (tools.code !== 0) throw new Error(`npm install in the consumer copy failed:\n${tools.stdout}\n${tools.stderr}`);
  toolchain = inspect(path.join(consumerDir, "node_modules"));
  installed = await sh(npm, ["install", ...offline, "--foreground-scripts", path.join(dir, packed.filename)], consumerDir);
  if (installed.code !== 0) throw new Error(`npm install ${packed.filename} failed:\n${installed.stdout}\n${installed.stderr}`);
  withClient = inspect(path.join(consumerDir, "node_modules"));
  const added = withClient.packages.filter((p) => !toolchain.packages.includes(p));
  console.log(
    `@parley/client tarball: ${packed.files.length} files, ${mb(packed.unpackedSize)} unpacked; installing it adds ${added.length} packages, ` +
      `${mb(withClient.bytes - toolchain.bytes)} (${added.join(", ")}); with TypeScript and @types/node: ${withClient.packages.length} packages, ${mb(withClient.bytes)}`,
  );
  t = await startTestServer({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "0" });
}, 300_000);
afterAll(async () => {
  await t?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("npm pack: @parley/client as a tarball dependency", () => {
  it("the tarball ships the built package (ESM, .d.ts, the CLI), its README and CHANGELOG, none of the sources", () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["package.json", "dist/index.js", "dist/index.d.ts", "dist/react.js", "dist/react.d.ts", "dist/cli/index.js", "CHANGELOG.md"]));
    expect(files.filter((f) => !/^(dist\/.*\.(js|d\.ts)|package\.json|README\.md|CHANGELOG\.md)$/.test(f))).toEqual([]);
  });

  it(`adds at most ${MAX_PACKAGES} packages and ${MAX_BYTES / 1024 / 1024} MB, none with an install script or native code`, () => {
    expect(installed.stdout + installed.stderr).not.toMatch(/gyp|prebuild|prisma/i);
    const added = withClient.packages.filter((p) => !toolchain.packages.includes(p));
    expect(added.length).toBeGreaterThan(0);
    expect(added.length).toBeLessThanOrEqual(MAX_PACKAGES);
    expect(withClient.bytes - toolchain.bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(withClient.native).toEqual([]);
    expect(added.map((p) => p.replace(/@[^@]+$/, ""))).not.toEqual(expect.arrayContaining(["@prisma/client"]));
  });

  it("its .d.ts files name no server library: only tRPC, React and TanStack Query (the react subpath), and its own modules", () => {
    const dist = path.join(consumerDir, "node_modules", "@parley", "client", "dist");
    const declarations = fs.readdirSync(dist, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".d.ts"));
    const imported = new Set(declarations.flatMap((f) => [...fs.readFileSync(path.join(dist, f), "utf8").matchAll(/from\s+"([^"]+)"|import\("([^"]+)"\)/g)].map((m) => m[1] ?? m[2] ?? "")));
    const outside = [...imported].filter((s) => !s.startsWith("./") && !s.startsWith("../"));
    expect(outside.sort()).toEqual(["@tanstack/react-query", "@trpc/client", "@trpc/server", "@trpc/server/observable", "@trpc/tanstack-react-query", "react"]);
  });

  it("type-checks against the router types it ships (every @ts-expect-error in src/type-tests.ts is an error)", async () => {
    const checked = await sh(path.join(consumerDir, "node_modules", ".bin", "tsc"), ["--noEmit"], consumerDir);
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.code).toBe(0);
  });

  it("a misspelled procedure or field, or a wrong input type, fails tsc naming it", async () => {
    const scratch = path.join(consumerDir, "src", "scratch-typo.ts");
    fs.writeFileSync(
      scratch,
      `import type { ParleyClient } from "@parley/client";\n` +
        `export const typo = (p: ParleyClient) => p.api.sesion.list.query({});\n` +
        `export const wrongInput = (p: ParleyClient) => p.api.message.post.mutate({ sessionId: "s", content: 7 });\n` +
        `export const field = async (p: ParleyClient) => (await p.api.session.get.query({ id: "s" })).titel;\n`,
    );
    try {
      const checked = await sh(path.join(consumerDir, "node_modules", ".bin", "tsc"), ["--noEmit"], consumerDir);
      expect(checked.code).not.toBe(0);
      expect(checked.stdout).toMatch(/scratch-typo\.ts\(2,[0-9]+\): error TS(2339|2551): Property 'sesion' does not exist/);
      expect(checked.stdout).toMatch(/scratch-typo\.ts\(3,[0-9]+\): error TS2322: Type 'number' is not assignable to type 'string'/);
      expect(checked.stdout).toMatch(/scratch-typo\.ts\(4,[0-9]+\): error TS(2339|2551): Property 'titel' does not exist/);
    } finally {
      fs.rmSync(scratch, { force: true });
    }
  });

  it("the consumer runs against a real server with a token: posts, tails, asks", async () => {
    const built = await sh(path.join(consumerDir, "node_modules", ".bin", "tsc"), [], consumerDir);
    expect(built.stdout + built.stderr).toBe("");
    const { token } = await createPrincipalWithToken(t.server.deps.db, { name: "consumer", role: "member", expiresAt: null });
    const ran = await sh(process.execPath, ["build/index.js"], consumerDir, { PARLEY_URL: t.url, PARLEY_TOKEN: token }, 60_000);
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout.trim())).toMatchObject({
      postedSeq: 1,
      firstEventType: "message.created",
      answerStatus: "complete",
      streamedMatchesAnswer: true,
    });
  });

  it("the package's `parley` bin runs against a real server, and exits 4 on a bad token", async () => {
    const parley = path.join(consumerDir, "node_modules", ".bin", "parley");
    const { token } = await createPrincipalWithToken(t.server.deps.db, { name: "tarball", role: "member", expiresAt: null });
    const env = { PARLEY_URL: t.url, PARLEY_TOKEN: token };
    const created = await sh(parley, ["--json", "sessions", "create", "from the tarball"], consumerDir, env, 60_000);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const session = JSON.parse(created.stdout) as { id: string };
    const listed = await sh(parley, ["sessions", "ls"], consumerDir, env, 60_000);
    expect(listed.stdout).toContain(`${session.id}  from the tarball`);
    const refused = await sh(parley, ["sessions", "ls"], consumerDir, { ...env, PARLEY_TOKEN: "pt_not-a-real-token" }, 60_000);
    expect(refused.code).toBe(4);
  });
});
