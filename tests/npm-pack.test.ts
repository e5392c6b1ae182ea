// Parley as a tarball dependency: `npm pack` in the repository root, installed
// with `npm install <tgz>` into a copy of examples/consumer outside the
// repository. The package's own postinstall runs as it would for any user
// (it must not need prisma/, which the tarball does not ship); its dependencies'
// install scripts (better-sqlite3's native build, Prisma's engines) are skipped,
// as they are not Parley's and take minutes. Then the copy type-checks against
// Parley's router, and the `parley` bin the package declares runs against a real server.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureSdkBuild } from "../scripts/sdk-build";
import { createPrincipalWithToken } from "../src/server/auth/tokens";
import { npm, sh, type CommandResult } from "./helpers/command";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

const offline = ["--prefer-offline", "--no-audit", "--no-fund"];

let dir: string;
let consumerDir: string;
let packed: { filename: string; files: { path: string }[] };
let rebuilt: CommandResult;
let t: TestServer;

beforeAll(async () => {
  ensureSdkBuild();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-pack-"));
  const pack = await sh(npm, ["pack", "--json", "--pack-destination", dir], repoRoot);
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
  [packed] = JSON.parse(pack.stdout) as [typeof packed];

  // examples/consumer without its path dependency on dist/: the tarball replaces it.
  consumerDir = path.join(dir, "consumer");
  fs.cpSync(path.join(repoRoot, "examples", "consumer", "src"), path.join(consumerDir, "src"), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, "examples", "consumer", "tsconfig.json"), path.join(consumerDir, "tsconfig.json"));
  const manifest = JSON.parse(fs.readFileSync(path.join(repoRoot, "examples", "consumer", "package.json"), "utf8")) as { dependencies: Record<string, string> };
  delete manifest.dependencies.parley;
  fs.writeFileSync(path.join(consumerDir, "package.json"), JSON.stringify(manifest, null, 2));

  const installed = await sh(npm, ["install", ...offline, "--ignore-scripts", path.join(dir, packed.filename)], consumerDir);
  if (installed.code !== 0) throw new Error(`npm install ${packed.filename} failed:\n${installed.stdout}\n${installed.stderr}`);
  // Parley's own install scripts, as `npm install` runs them for a dependency.
  rebuilt = await sh(npm, ["rebuild", "parley", "--foreground-scripts"], consumerDir);
  t = await startTestServer({ PARLEY_AUTH: "on" });
}, 180_000);
afterAll(async () => {
  await t?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("npm pack: Parley as a tarball dependency", () => {
  it("the tarball ships the built SDK and CLI and package.json, none of the sources", () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(["package.json", "dist/client/index.js", "dist/client/index.d.ts", "dist/cli/index.js"]));
    expect(files.filter((f) => !/^(dist\/(client|cli)\/|package\.json$|README\.md$)/.test(f))).toEqual([]);
  });

  it("installs: its postinstall runs and skips prisma generate, as the package has no prisma/", () => {
    expect(rebuilt.stderr).not.toMatch(/npm error/);
    expect(rebuilt.code).toBe(0);
    expect(rebuilt.stdout).toContain("postinstall");
    expect(fs.existsSync(path.join(consumerDir, "node_modules", "parley", "prisma"))).toBe(false);
    const installedManifest = JSON.parse(fs.readFileSync(path.join(consumerDir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
    expect(installedManifest.dependencies.parley).toMatch(/parley-[\d.]+\.tgz$/);
  });

  it("type-checks against Parley's router from the tarball (every @ts-expect-error in src/type-tests.ts is an error)", async () => {
    const checked = await sh(path.join(consumerDir, "node_modules", ".bin", "tsc"), ["--noEmit"], consumerDir);
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.code).toBe(0);
  });

  it("the package's `parley` bin runs against a real server, and exits 4 on a bad token", async () => {
    const parley = path.join(consumerDir, "node_modules", ".bin", "parley");
    const { token } = await createPrincipalWithToken(t.server.deps.db, { name: "tarball", role: "member", expiresAt: null });
    const env = { PARLEY_URL: t.url, PARLEY_TOKEN: token };
    const created = await sh(parley, ["--json", "sessions", "create", "from the tarball"], consumerDir, env);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const session = JSON.parse(created.stdout) as { id: string };
    const listed = await sh(parley, ["sessions", "ls"], consumerDir, env);
    expect(listed.stdout).toContain(`${session.id}  from the tarball`);
    const refused = await sh(parley, ["sessions", "ls"], consumerDir, { ...env, PARLEY_TOKEN: "pt_not-a-real-token" });
    expect(refused.code).toBe(4);
  });
});
