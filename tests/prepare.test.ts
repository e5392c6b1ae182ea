// scripts/prepare.ts, what `npm start` runs first (its prestart, there with
// --build), as a real process: on a fresh clone's missing database it creates
// the directory and the file and applies every committed migration; run again
// it changes nothing and keeps the data. Without --build it never touches the
// web build (the build itself is covered by the global setup and browser tests).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openStorage, type Storage } from "../src/server/db";
import { sh } from "./helpers/command";
import { repoRoot, startTestServer } from "./helpers/server";

/** scripts/prepare.ts as a process on `databaseUrl`: its exit code and everything it printed. */
async function prepare(databaseUrl: string): Promise<{ code: number; output: string }> {
  const run = await sh(process.execPath, ["--import", "tsx", "scripts/prepare.ts"], repoRoot, { DATABASE_URL: databaseUrl });
  return { code: run.code, output: run.stdout + run.stderr };
}

const committedMigrations = () =>
  fs
    .readdirSync(path.join(repoRoot, "prisma", "migrations"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

let dir: string;
let storage: Storage | undefined;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-prepare-"));
});
afterEach(async () => {
  await storage?.close();
  storage = undefined;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("scripts/prepare.ts", () => {
  it("creates a missing SQLite directory and database and applies every committed migration", async () => {
    const file = path.join(dir, "not", "yet", "there", "parley.db");
    const url = `file:${file}`;

    const first = await prepare(url);
    expect(first.output).toContain(`✓ database ready at ${url}`);
    expect(first.code).toBe(0);
    expect(first.output).not.toContain("web build");
    expect(fs.existsSync(file)).toBe(true);

    storage = await openStorage(url);
    const db = storage.db;
    const applied = await db.$queryRawUnsafe<{ migration_name: string; finished_at: unknown }[]>(
      `SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name`,
    );
    expect(applied.map((m) => m.migration_name)).toEqual(committedMigrations());
    expect(applied.every((m) => m.finished_at !== null)).toBe(true);
    // The tables of the data model answer through Prisma.
    const session = await db.session.create({ data: { title: "prepared", metadata: {} } });
    await db.message.create({
      data: { sessionId: session.id, seq: 1, role: "user", author: "ada", content: "hello", metadata: {} },
    });
    expect(await db.message.count({ where: { sessionId: session.id } })).toBe(1);
    expect(await db.agent.count()).toBe(0);
    expect(await db.event.count()).toBe(0);
    expect(await db.principal.count()).toBe(0);
    await storage.close();
    storage = undefined;

    // Idempotent: a second start applies nothing and keeps what was written.
    const second = await prepare(url);
    expect(second.code).toBe(0);
    expect(second.output).toContain(`✓ database ready at ${url} (every migration applied)`);
    storage = await openStorage(url);
    expect(await storage.db.session.findMany({ select: { title: true } })).toEqual([{ title: "prepared" }]);
  });

  it("succeeds beside a running server on the same SQLite file (npm run token while npm start runs)", async () => {
    const url = `file:${path.join(dir, "parley.db")}`;
    expect((await prepare(url)).code).toBe(0);
    const t = await startTestServer({ DATABASE_URL: url });
    try {
      // Prisma's schema engine cannot get the file while the server has it
      // open (it failed with "unknown variant SocketTimeout"); with every
      // committed migration recorded as applied there is nothing to run.
      const beside = await prepare(url);
      expect(beside.output).toContain(`✓ database ready at ${url} (every migration applied)`);
      expect(beside.code).toBe(0);
      // The server still works on it.
      await t.client().api.session.create.mutate({ title: "still here" });
    } finally {
      await t.close();
    }
  });

  it("refuses an invalid DATABASE_URL, naming the variable, and creates nothing", async () => {
    const run = await prepare(`mysql://${dir}/parley`);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("DATABASE_URL");
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
