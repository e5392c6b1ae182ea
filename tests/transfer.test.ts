// Export and import: a session as JSON that imports back losslessly (order,
// roles, authors, labels, visibility, status, metadata, times, answer links),
// as Markdown, only what the exporter may see; and `parley export` /
// `parley import` (the CLI's sources) doing the same through files.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionExportSchema, type SessionExport } from "../src/shared/transfer";
import { AUTH_CALL_MANY_ENV, makePrincipal, outcome, type TestPrincipal } from "./helpers/auth";
import { repoRoot, startTestServer, type TestServer } from "./helpers/server";
import { collectSessionEvents } from "./helpers/stream";

let t: TestServer;
let alice: TestPrincipal;
let bob: TestPrincipal;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-transfer-"));
beforeAll(async () => {
  t = await startTestServer(AUTH_CALL_MANY_ENV);
  alice = await makePrincipal(t, "member", "alice");
  bob = await makePrincipal(t, "member", "bob");
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What must survive an import: everything but ids, session ids and where it came from. */
const comparable = (data: SessionExport) =>
  data.messages.map((m) => {
    const { importedFrom: _from, runId: _run, ...metadata } = m.metadata;
    const parent = data.messages.find((p) => p.id === m.parentId);
    return { ...m, id: undefined, authorId: undefined, metadata, parentId: parent ? parent.seq : null };
  });

async function seeded() {
  const a = t.client({ token: alice.token }).api;
  const session = await a.session.create.mutate({ title: "Quarterly plan", metadata: { team: "core" } });
  await a.session.addMember.mutate({ sessionId: session.id, principalId: bob.id, role: "member" });
  await a.message.post.mutate({ sessionId: session.id, content: "# Goals\n\n- ship **v2**", author: "planner", metadata: { tag: "goals" } });
  const sent = await a.chat.send.mutate({ sessionId: session.id, content: "summarise the goals" });
  await t.server.deps.chat.whenFinished(sent.runId);
  await a.message.post.mutate({ sessionId: session.id, content: "a private aside", visibility: "private" });
  return { a, session, sent };
}

describe("session export and import", () => {
  it("exports JSON that imports back into a new session losslessly, with its events, and exports again the same", async () => {
    const { a, session, sent } = await seeded();
    const file = await a.session.export.query({ sessionId: session.id });
    expect(file.filename).toBe("quarterly-plan.parley.json");
    const data = sessionExportSchema.parse(JSON.parse(file.text));
    expect(data.messages.map((m) => [m.seq, m.role, m.content.slice(0, 12)])).toEqual([
      [1, "user", "# Goals\n\n- s"],
      [2, "user", "summarise th"],
      [3, "assistant", (await t.server.deps.db.message.findUniqueOrThrow({ where: { id: sent.assistantMessageId } })).content.slice(0, 12)],
      [4, "user", "a private as"],
    ]);

    const imported = await a.session.import.mutate({ data });
    expect(imported).toMatchObject({ title: "Quarterly plan", messageCount: 4 });
    const again = sessionExportSchema.parse(JSON.parse((await a.session.export.query({ sessionId: imported.sessionId })).text));
    expect(comparable(again)).toEqual(comparable(data));
    expect(again.session.metadata).toMatchObject({ team: "core", importedFrom: { sessionId: session.id } });
    // The answer still answers its question, and names no run (chat.run finds answers by run id).
    const answer = again.messages[2]!;
    expect(answer.parentId).toBe(again.messages[1]!.id);
    expect(answer.metadata.runId).toBeUndefined();
    expect(answer.metadata.importedFrom).toMatchObject({ runId: sent.runId });
    // Its events are in the new session's log: a stream from the start replays every message.
    const replay = collectSessionEvents(t.client({ token: alice.token }), imported.sessionId, "0");
    await expect.poll(() => replay.events.length, { timeout: 10_000 }).toBe(4);
    expect(replay.messageSeqs()).toEqual([1, 2, 3, 4]);
    replay.unsubscribe();
  });

  it("exports only what the caller may see, as JSON and as Markdown; refuses broken files and viewers", async () => {
    const { session } = await seeded();
    const b = t.client({ token: bob.token }).api;
    const data = sessionExportSchema.parse(JSON.parse((await b.session.export.query({ sessionId: session.id })).text));
    expect(data.messages.map((m) => m.content)).not.toContain("a private aside");
    const md = await b.session.export.query({ sessionId: session.id, format: "markdown" });
    expect(md.filename).toBe("quarterly-plan.md");
    expect(md.text).toMatch(/^# Quarterly plan\n/);
    expect(md.text).toContain("**alice** “planner” · user ·");
    expect(md.text).toContain("# Goals\n\n- ship **v2**");
    expect(md.text).not.toContain("private aside");

    const outsider = await makePrincipal(t, "member", "outsider");
    expect(await outcome(t.client({ token: outsider.token }).api.session.export.query({ sessionId: session.id }))).toBe("FORBIDDEN");
    expect(await outcome(b.session.import.mutate({ data: { ...data, format: "something else" } as unknown as SessionExport }))).toBe("BAD_REQUEST");
    const viewer = await makePrincipal(t, "viewer", "viewer");
    expect(await outcome(t.client({ token: viewer.token }).api.session.import.mutate({ data }))).toBe("FORBIDDEN");
  });

  it("parley export and parley import move a session through files", async () => {
    const { session } = await seeded();
    const parley = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ["--import", "tsx", path.join(repoRoot, "packages", "client", "src", "cli", "index.ts"), ...args], {
          cwd: repoRoot,
          env: { ...process.env, PARLEY_URL: t.url, PARLEY_TOKEN: alice.token },
          stdio: ["ignore", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
        child.once("exit", (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    const file = path.join(dir, "plan.json");
    const exported = await parley(["export", session.id, "--out", file]);
    expect(exported.code).toBe(0);
    const imported = await parley(["--json", "import", file, "--title", "Plan, restored"]);
    expect(imported.code).toBe(0);
    const result = JSON.parse(imported.stdout) as { sessionId: string; title: string; messageCount: number };
    expect(result).toMatchObject({ title: "Plan, restored", messageCount: 4 });
    const md = await parley(["export", result.sessionId, "--format", "markdown"]);
    expect(md.stdout).toMatch(/^# Plan, restored\n/);
    fs.writeFileSync(path.join(dir, "broken.json"), JSON.stringify({ format: "nope" }));
    const broken = await parley(["import", path.join(dir, "broken.json")]);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain("is not a Parley export: format");
  }, 120_000);
});
