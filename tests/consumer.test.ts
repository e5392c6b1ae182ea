// The SDK as another project sees it: build it with tsup (once per change of
// its sources, shared with the other tests of the package), install it into
// examples/consumer by path (file:../../dist), type-check that project against Parley's router
// (its @ts-expect-error lines must all be errors, and a plain typo must fail),
// then run it against a real server.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureSdkBuild } from "../scripts/sdk-build";
import { createPrincipalWithToken } from "../src/server/auth/tokens";
import { npm, sh } from "./helpers/command";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";

const consumerDir = path.join(repoRoot, "examples", "consumer");
const tsc = path.join(consumerDir, "node_modules", ".bin", "tsc");

let t: TestServer;
beforeAll(async () => {
  ensureSdkBuild();
  const installed = await sh(npm, ["install", "--no-audit", "--no-fund"], consumerDir);
  if (installed.code !== 0) throw new Error(`npm install in examples/consumer failed:\n${installed.stdout}\n${installed.stderr}`);
  t = await startTestServer({ PARLEY_AUTH: "on", CHAT_BUILTIN_CHUNK_DELAY_MS: "0" });
}, 180_000);
afterAll(async () => {
  await t?.close();
});

describe("examples/consumer against the built SDK", () => {
  it("the build ships ESM and a .d.ts that carries AppRouter", () => {
    const dts = fs.readFileSync(path.join(repoRoot, "dist", "client", "index.d.ts"), "utf8");
    expect(dts).toMatch(/type AppRouter = /);
    expect(dts).toContain("createParleyClient");
    expect(fs.existsSync(path.join(repoRoot, "dist", "client", "index.js"))).toBe(true);
    expect(fs.realpathSync(path.join(consumerDir, "node_modules", "parley"))).toBe(fs.realpathSync(path.join(repoRoot, "dist")));
    expect(JSON.parse(fs.readFileSync(path.join(repoRoot, "dist", "package.json"), "utf8"))).toMatchObject({ name: "parley", exports: { "./client": { types: "./client/index.d.ts" } } });
  });

  it("type-checks: every deliberately wrong call in src/type-tests.ts is an error", async () => {
    const checked = await sh(tsc, ["--noEmit"], consumerDir);
    expect(checked.stdout + checked.stderr).toBe("");
    expect(checked.code).toBe(0);
  });

  it("a procedure-name typo without @ts-expect-error fails its tsc, naming the procedure", async () => {
    const scratch = path.join(consumerDir, "src", "scratch-typo.ts");
    fs.writeFileSync(
      scratch,
      `import type { ParleyClient } from "parley/client";\nexport const typo = (p: ParleyClient) => p.api.sesion.list.query({});\n` +
        `export const wrongInput = (p: ParleyClient) => p.api.message.post.mutate({ sessionId: "s", content: 7 });\n`,
    );
    try {
      const checked = await sh(tsc, ["--noEmit"], consumerDir);
      expect(checked.code).not.toBe(0);
      expect(checked.stdout).toMatch(/scratch-typo\.ts\(2,[0-9]+\): error TS(2339|2551): Property 'sesion' does not exist/);
      expect(checked.stdout).toMatch(/scratch-typo\.ts\(3,[0-9]+\): error TS2322: Type 'number' is not assignable to type 'string'/);
    } finally {
      fs.rmSync(scratch, { force: true });
    }
  });

  it("runs against a real server with a token: posts, tails, asks", async () => {
    const built = await sh(tsc, [], consumerDir);
    expect(built.stdout + built.stderr).toBe("");
    const { token } = await createPrincipalWithToken(t.server.deps.db, { name: "consumer", role: "member", expiresAt: null });
    const ran = await sh(process.execPath, ["build/index.js"], consumerDir, { PARLEY_URL: t.url, PARLEY_TOKEN: token });
    expect(ran.stderr).toBe("");
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout.trim())).toMatchObject({
      postedSeq: 1,
      firstEventType: "message.created",
      answerStatus: "complete",
      streamedMatchesAnswer: true,
    });
  });
});
