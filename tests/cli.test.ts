// The `parley` CLI as a real process against a real server with
// authentication on: each command's output and exit code, --json for scripts,
// and the errors scripts branch on (unreachable 3, bad token 4, not found 5,
// usage 2, Ctrl-C 130). The process is the built binary, package.json's `bin`
// (packages/client/dist/cli/index.js, run through its shebang as a shell would); one test
// checks that `npm run parley` (the sources through tsx) is the same program.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { clientPackageDir, ensureSdkBuild } from "../scripts/sdk-build";
import { createParleyClient, type ParleyClient } from "@parley/client";
import type { ParleyServer } from "../src/server/app";
import { createPrincipalWithToken } from "../src/server/auth/tokens";
import { startFakeOpenAi, closedPortUrl, type FakeProvider } from "./helpers/chat-fakes";
import { freshDatabase, repoRoot, startServerAt, startTestServer, waitFor, type TestServer } from "./helpers/server";
import { postNumbered, range } from "./helpers/stream";

const packageBin = (JSON.parse(fs.readFileSync(path.join(clientPackageDir, "package.json"), "utf8")) as { bin: { parley: string } }).bin.parley;
const cliBin = path.join(clientPackageDir, packageBin);
const cliSource = path.join(clientPackageDir, "src", "cli", "index.ts");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running process in the repo whose output is collected as it arrives. */
function startProcess(command: string, argv: string[], env: Record<string, string | undefined>) {
  const child: ChildProcess = spawn(command, argv, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const result: Run = { code: null, stdout: "", stderr: "" };
  child.stdout?.on("data", (c: Buffer) => (result.stdout += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (result.stderr += c.toString()));
  const exited = new Promise<Run>((resolve) => child.once("exit", (code) => resolve({ ...result, code })));
  return { child, result, exited };
}

/** A running CLI process (the built binary, or with `source` the sources through tsx), signed in as the admin unless `env` says otherwise. */
function startCli(args: string[], env: Record<string, string | undefined> = {}, { source = false } = {}) {
  const [command, argv] = source ? [process.execPath, ["--import", "tsx", cliSource, ...args]] : [cliBin, args];
  return startProcess(command, argv, { PARLEY_URL: t.url, PARLEY_TOKEN: adminToken, ...env });
}

const cli = (args: string[], env: Record<string, string | undefined> = {}) => startCli(args, env).exited;
const jsonLines = (stdout: string): unknown[] =>
  stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as unknown);

let t: TestServer;
let openai: FakeProvider;
let adminToken: string;
let sdk: ParleyClient;

beforeAll(async () => {
  ensureSdkBuild();
  openai = await startFakeOpenAi();
  t = await startTestServer({ PARLEY_AUTH: "on", OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: "sk-test", OPENAI_DEFAULT_MODEL: "fake-gpt" });
  adminToken = (await createPrincipalWithToken(t.server.deps.db, { name: "cli admin", role: "admin", expiresAt: null })).token;
  sdk = createParleyClient({ url: t.url, token: adminToken, retryDelayMs: () => 50 });
});
afterAll(async () => {
  await sdk?.close();
  await t?.close();
  await openai?.close();
});

describe("parley CLI", () => {
  it("npm run parley (the sources through tsx) is the program the package ships", async () => {
    await sdk.api.session.create.mutate({ title: "same program" });
    const [built, source] = await Promise.all([cli(["--json", "sessions", "ls"]), startCli(["--json", "sessions", "ls"], {}, { source: true }).exited]);
    expect(source.code).toBe(0);
    expect(built.code).toBe(0);
    expect(built.stdout).toContain("same program");
    expect(built.stdout).toBe(source.stdout);
    const [builtHelp, sourceHelp] = await Promise.all([cli(["sessions", "--help"]), startCli(["sessions", "--help"], {}, { source: true }).exited]);
    expect(builtHelp.stdout).toContain("add-member");
    expect(builtHelp.stdout).toBe(sourceHelp.stdout);
  });

  it("sessions create | ls | archive, in words and as JSON", async () => {
    const created = await cli(["--json", "sessions", "create", "CLI planning"]);
    expect(created.code).toBe(0);
    const session = JSON.parse(created.stdout) as { id: string; title: string };
    expect(session.title).toBe("CLI planning");

    const listed = await cli(["sessions", "ls"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(`${session.id}  CLI planning`);

    const archived = await cli(["sessions", "archive", session.id]);
    expect(archived.code).toBe(0);
    expect(archived.stdout).toContain("(archived)");
    const after = await cli(["--json", "sessions", "ls"]);
    expect((JSON.parse(after.stdout) as { id: string }[]).map((s) => s.id)).not.toContain(session.id);
    const withArchived = await cli(["--json", "sessions", "ls", "--archived"]);
    expect((JSON.parse(withArchived.stdout) as { id: string }[]).map((s) => s.id)).toContain(session.id);
  });

  it("send prints the message with its seq; tail shows history then live messages and exits 130 on Ctrl-C", async () => {
    const session = await sdk.api.session.create.mutate({ title: "tail" });
    const sent = await cli(["send", session.id, "first words", "--author", "ada"]);
    expect(sent.code).toBe(0);
    // The name is the token's principal's; --author is a label beside it.
    expect(sent.stdout.trim()).toBe('#1 cli admin "ada" (user): first words');

    const tail = startCli(["tail", session.id]);
    const tailJson = startCli(["--json", "tail", session.id]);
    await waitFor(() => tail.result.stdout.includes("first words") && tailJson.result.stdout.includes("first words"), "history", 30_000);
    const second = await cli(["--json", "send", session.id, "second words"]);
    expect(JSON.parse(second.stdout)).toMatchObject({ seq: 2, content: "second words", author: "cli admin", authorLabel: null });
    await waitFor(() => tail.result.stdout.includes("second words") && tailJson.result.stdout.includes("second words"), "live", 30_000);

    tail.child.kill("SIGINT");
    tailJson.child.kill("SIGINT");
    const [human, json] = await Promise.all([tail.exited, tailJson.exited]);
    expect(human.code).toBe(130);
    expect(human.stdout.trim().split("\n")).toEqual(['#1 cli admin "ada" (user): first words', "#2 cli admin (user): second words"]);
    expect(json.code).toBe(130);
    const events = jsonLines(json.stdout) as { id: string; event: { type: string } }[];
    expect(events.map((e) => [e.id, e.event.type])).toEqual([
      ["1", "message.created"],
      ["2", "message.created"],
    ]);
  });

  it("ask streams the built-in assistant's answer; --json gives deltas then done", async () => {
    const session = await sdk.api.session.create.mutate({ title: "ask" });
    await sdk.api.message.post.mutate({ sessionId: session.id, content: "The launch is on Friday.", author: "ada" });
    const agents = await sdk.api.agent.list.query();
    const builtin = agents.find((a) => a.provider === "builtin")?.id ?? "";

    const asked = await cli(["ask", session.id, "When is the launch?", "--agent", builtin]);
    expect(asked.code).toBe(0);
    expect(asked.stdout).toContain("> The launch is on Friday.");

    const json = await cli(["--json", "ask", session.id, "When is the launch?", "--agent", builtin]);
    expect(json.code).toBe(0);
    const items = jsonLines(json.stdout) as { type: string; text?: string; message?: { content: string; status: string } }[];
    const done = items.at(-1);
    expect(done).toMatchObject({ type: "done", message: { status: "complete" } });
    expect(items.slice(0, -1).every((i) => i.type === "delta")).toBe(true);
    expect(items.slice(0, -1).map((i) => i.text).join("")).toBe(done?.message?.content);
  });

  it("Ctrl-C during ask stops the run (chat.stop) and exits 130", async () => {
    openai.answers = [{ kind: "tokens", tokens: ["one ", "two ", "three "], intervalMs: 20, endless: true }];
    const session = await sdk.api.session.create.mutate({ title: "ask stop" });
    const agents = await sdk.api.agent.list.query();
    const agentId = agents.find((a) => a.provider === "openai")?.id ?? "";
    const ask = startCli(["ask", session.id, "talk forever", "--agent", agentId]);
    await waitFor(() => ask.result.stdout.includes("three"), "streamed text", 30_000);
    ask.child.kill("SIGINT");
    const done = await ask.exited;
    expect(done.code).toBe(130);
    expect(done.stderr).toContain("[answer stopped]");
    const messages = await sdk.api.message.list.query({ sessionId: session.id });
    expect(messages.items.at(-1)).toMatchObject({ role: "assistant", status: "stopped" });
    await waitFor(() => openai.requests.at(-1)?.abortedByClient === true, "the provider to see the request end");
    openai.answers = [];
  });

  it("events --type 'llm.*' shows only matching events", async () => {
    const session = await sdk.api.session.create.mutate({ title: "events" });
    await sdk.api.events.publish.mutate({ type: "stt.start", data: { language: "en" }, sessionId: session.id });
    await sdk.api.events.publish.mutate({ type: "llm.start", data: { model: "m1" }, sessionId: session.id });
    const events = startCli(["--json", "events", "--type", "llm.*", "--session", session.id]);
    await waitFor(() => events.result.stdout.includes("m1"), "replayed llm.start", 30_000);
    await sdk.api.events.publish.mutate({ type: "stt.start", data: { language: "fr" }, sessionId: session.id });
    await sdk.api.events.publish.mutate({ type: "llm.progress", data: { delta: "hi" }, sessionId: session.id });
    await waitFor(() => jsonLines(events.result.stdout).length === 2, "live llm event", 30_000);
    events.child.kill("SIGINT");
    const done = await events.exited;
    expect(done.code).toBe(130);
    const types = (jsonLines(done.stdout) as { type: string }[]).map((e) => e.type);
    expect(types[0]).toBe("llm.start");
    expect(types.every((type) => type.startsWith("llm."))).toBe(true);
  });

  it("metrics --once prints the key figures; --json parses", async () => {
    const human = await cli(["metrics", "--once"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/process\s+cpu [\d.]+%/);
    expect(human.stdout).toMatch(/hub\s+connections \d+/);
    const json = await cli(["--json", "metrics", "--once"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ process: { rssBytes: expect.any(Number) as number }, hub: { connections: expect.any(Number) as number } });
  });

  it("metrics without --once keeps printing fresh figures until Ctrl-C, then exits 130", async () => {
    const metrics = startCli(["metrics"]);
    const frames = () => [...metrics.result.stdout.matchAll(/^Parley metrics {2}(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) {2}\(window 1 s\)$/gm)];
    const frameTime = (frame: RegExpExecArray) => Date.parse(`${frame[1]?.replace(" ", "T")}Z`);
    await waitFor(() => frames().length >= 1, "the first frame", 30_000);
    // Frames of windows that ended after this moment cannot be history replayed at the start: they are refreshes.
    const firstShown = Date.now();
    await waitFor(() => frames().filter((f) => frameTime(f) > firstShown).length >= 2, "two refreshed frames", 30_000);
    metrics.child.kill("SIGINT");
    const done = await metrics.exited;
    expect(done.code).toBe(130);
    expect(done.stderr).toBe("");
    const times = frames().map(frameTime);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(times.length);
    // Every frame is the whole block of figures, ended by a blank line (the view's refresh without a terminal).
    const blocks = done.stdout.split("\n\n").filter((b) => b.trim() !== "");
    expect(blocks).toHaveLength(times.length);
    for (const block of blocks) {
      expect(block).toMatch(/^process\s+cpu [\d.]+%/m);
      expect(block).toMatch(/^hub\s+connections \d+/m);
      expect(block).toMatch(/^database\s+ping /m);
    }
  });

  it("token create | list | revoke: the new token works until it is revoked (then exit 4)", async () => {
    const created = await cli(["--json", "token", "create", "build bot", "--role", "member", "--expires-in", "1d"]);
    expect(created.code).toBe(0);
    const token = JSON.parse(created.stdout) as { token: string; id: string };
    expect(token.token.length).toBeGreaterThan(20);

    const listed = await cli(["token", "list"]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`${token.id}  build bot  role=member  active`));
    expect(listed.stdout).not.toContain(token.token);

    expect((await cli(["sessions", "ls"], { PARLEY_TOKEN: token.token })).code).toBe(0);
    const revoked = await cli(["token", "revoke", token.id]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain("revoked");
    const refused = await cli(["sessions", "ls"], { PARLEY_TOKEN: token.token });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("PARLEY_TOKEN");
  });

  it("sessions add-member | members | remove-member: by token name or id (admins) or principal id (owners); the member can write until removed", async () => {
    const session = await sdk.api.session.create.mutate({ title: "members" });
    const created = await cli(["--json", "token", "create", "helper", "--role", "member"]);
    const helper = JSON.parse(created.stdout) as { id: string; token: string; principal: { id: string } };
    const asHelper = { PARLEY_TOKEN: helper.token };
    const readable = async () => (JSON.parse((await cli(["--json", "sessions", "ls"], asHelper)).stdout) as { id: string }[]).map((s) => s.id);
    expect(await readable()).not.toContain(session.id);
    const refused = await cli(["send", session.id, "let me in"], asHelper);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("not allowed");

    const added = await cli(["sessions", "add-member", session.id, "helper", "--role", "viewer"]);
    expect(added.code).toBe(0);
    expect(added.stdout.trim()).toBe(`helper (${helper.principal.id}) is a member of ${session.id} with role viewer`);
    expect(await readable()).toContain(session.id);
    expect((await cli(["send", session.id, "viewers only read"], asHelper)).code).toBe(4);

    // By token id (as `token list` shows it): the same principal, now a writer.
    const promoted = await cli(["--json", "sessions", "add-member", session.id, helper.id, "--role", "member"]);
    expect(JSON.parse(promoted.stdout)).toMatchObject({ sessionId: session.id, principalId: helper.principal.id, role: "member" });
    expect((await cli(["send", session.id, "now I may write"], asHelper)).code).toBe(0);
    const members = await cli(["sessions", "members", session.id]);
    expect(members.stdout.trim()).toBe(`${helper.principal.id}  helper  app  role=member`);

    const removed = await cli(["sessions", "remove-member", session.id, "helper"]);
    expect(removed.code).toBe(0);
    expect(removed.stdout.trim()).toBe(`helper (${helper.principal.id}) is no longer a member of ${session.id}`);
    expect((await cli(["send", session.id, "still here?"], asHelper)).code).toBe(4);
    expect(await readable()).not.toContain(session.id);
    expect((await cli(["sessions", "members", session.id])).stdout.trim()).toBe("no members");

    // An owner who is not an admin cannot list tokens: it names the principal by id.
    const owner = JSON.parse((await cli(["--json", "token", "create", "owner", "--role", "member"])).stdout) as { token: string };
    const own = JSON.parse((await cli(["--json", "sessions", "create", "owned"], { PARLEY_TOKEN: owner.token })).stdout) as { id: string };
    expect((await cli(["sessions", "add-member", own.id, "helper"], { PARLEY_TOKEN: owner.token })).code).toBe(5);
    const byOwner = await cli(["sessions", "add-member", own.id, helper.principal.id], { PARLEY_TOKEN: owner.token });
    expect(byOwner.code).toBe(0);
    expect(byOwner.stdout.trim()).toBe(`${helper.principal.id} is a member of ${own.id} with role member`);
    expect((await cli(["sessions", "add-member", own.id, helper.principal.id], asHelper)).code).toBe(4);

    await cli(["token", "create", "twin", "--role", "agent"]);
    await cli(["token", "create", "twin", "--role", "agent"]);
    const ambiguous = await cli(["sessions", "add-member", session.id, "twin"]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('"twin" names 2 principals');
    expect((await cli(["sessions", "add-member", session.id, "helper", "--role", "owner"])).code).toBe(2);
    expect((await cli(["sessions", "remove-member", session.id, "helper"])).code).toBe(5);
    expect((await cli(["sessions", "add-member", "no-such-session", "helper"])).code).toBe(5);
  }, 90_000); // a dozen CLI processes one after another

  it("exit codes: unreachable 3, bad or missing token 4, not found 5, bad usage 2", async () => {
    const down = await closedPortUrl();
    const unreachable = await cli(["sessions", "ls"], { PARLEY_URL: down });
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toContain(`cannot reach the Parley server at ${down}`);
    const unreachableTail = await cli(["tail", "some-session"], { PARLEY_URL: down });
    expect(unreachableTail.code).toBe(3);

    const badToken = await cli(["sessions", "ls"], { PARLEY_TOKEN: "pt_not-a-real-token" });
    expect(badToken.code).toBe(4);
    expect(badToken.stderr).toContain("invalid, expired or revoked");
    const noToken = await cli(["events"], { PARLEY_TOKEN: "" });
    expect(noToken.code).toBe(4);
    expect(noToken.stderr).toContain("authentication required");

    const missing = await cli(["tail", "no-such-session"]);
    expect(missing.code).toBe(5);
    expect(missing.stderr).toContain("not found");
    expect((await cli(["send", "no-such-session", "hi"])).code).toBe(5);

    expect((await cli(["no-such-command"])).code).toBe(2);
    expect((await cli(["sessions", "create"])).code).toBe(2);
    expect((await cli(["metrics", "--resolution", "7"])).code).toBe(2);
    expect((await cli(["--help"])).code).toBe(0);
  });

  it("memory add, ls, recall and rm, and search, for people and with --json", async () => {
    const added = await cli(["--json", "memory", "add", "The staging database is refreshed every Sunday night.", "--title", "Staging refresh", "--tag", "ops"]);
    expect(added.code).toBe(0);
    const memory = JSON.parse(added.stdout) as { id: string; tags: string[] };
    expect(memory.tags).toEqual(["ops"]);
    const listed = await cli(["memory", "ls", "--tag", "ops"]);
    expect(listed.stdout).toContain(memory.id);
    expect(listed.stdout).toContain("Staging refresh: The staging database");
    const recalled = await cli(["memory", "recall", "when is staging refreshed"]);
    expect(recalled.code).toBe(0);
    expect(recalled.stdout).toContain(memory.id);
    expect(recalled.stdout).toMatch(/\[refresh(ed)?\]/i);
    expect((await cli(["memory", "rm", memory.id])).stdout).toContain(`deleted ${memory.id}`);
    expect((await cli(["memory", "rm", memory.id])).code).toBe(5);

    const sessionId = (await cli(["sessions", "create", "Search me"])).stdout.split(" ")[0] ?? "";
    await cli(["send", sessionId, "The flamingo budget was approved.", "--author", "ada"]);
    const found = await cli(["search", "flamingo"]);
    expect(found.stdout).toContain(`/s/${sessionId}#seq-1`);
    expect(found.stdout).toContain("[flamingo]");
    expect((await cli(["--json", "memory", "add", "x", "--session", "a", "--mine"])).code).toBe(2);
  });

  it("examples/agent-bot, set up as its README says (token create, sessions create, sessions add-member), answers a message that mentions it and reports agent.progress", async () => {
    // The README's steps, as an admin: the bot's token, a session, and the bot a member of it.
    const botToken = (await cli(["token", "create", "bot", "--role", "agent"])).stdout.split("\n")[0] ?? "";
    expect(botToken).toMatch(/^pt_/);
    const sessionId = (await cli(["sessions", "create", "Launch"])).stdout.split(" ")[0] ?? "";
    await cli(["send", sessionId, "The launch is on Friday.", "--author", "ada"]);
    const startBot = () =>
      startProcess(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples", "agent-bot", "index.ts"), "--session", sessionId], {
        PARLEY_URL: t.url,
        PARLEY_TOKEN: botToken,
      });
    const output = (bot: { result: Run }) => bot.result.stdout + bot.result.stderr;

    // Without the add-member step the bot may not read the session.
    const outsider = startBot();
    expect((await outsider.exited).code).toBe(4);
    expect(output(outsider)).toContain("may not read");

    const added = await cli(["sessions", "add-member", sessionId, "bot", "--role", "agent"]);
    expect(added.code).toBe(0);
    const bot = startBot();
    try {
      await waitFor(() => output(bot).includes("joined"), "the bot to join", 30_000);
      await cli(["send", sessionId, "not for the bot: when is the launch?"]);
      const asked = await cli(["--json", "send", sessionId, "@bot when is the launch?", "--author", "ada"]);
      const question = JSON.parse(asked.stdout) as { id: string; seq: number };
      await waitFor(() => output(bot).includes(`answered #${question.seq} (complete)`), "the bot's answer", 30_000);
      const messages = (await sdk.api.message.list.query({ sessionId })).items;
      const answers = messages.filter((m) => m.role === "assistant");
      expect(answers).toHaveLength(1);
      expect(answers[0]).toMatchObject({ parentId: question.id, status: "complete" });
      expect(answers[0]?.content).toContain("> The launch is on Friday.");
      // It remembered the question (memory.store) and recalls it next time (memory.recall); who asked is
      // the asker's principal, not the --author label beside it.
      const remembered = await sdk.api.memory.list.query({ scope: { kind: "session", sessionId }, tag: "agent-bot" });
      expect(remembered.items.map((m) => m.content)).toEqual(["cli admin asked: @bot when is the launch?"]);
      expect(output(bot)).toContain(`recalled 0 memories for #${question.seq}`);

      const progress: { step: string | number; percent: number }[] = [];
      const sub = sdk.api.events.subscribe.subscribe(
        { types: ["agent.progress"], sessionId, replay: 100 },
        { onData: ({ data }) => (data.type === "agent.progress" ? progress.push(data.data) : undefined) },
      );
      await waitFor(() => progress.some((p) => p.percent === 100), "progress events");
      sub.unsubscribe();
      expect(progress[0]).toMatchObject({ step: "received", percent: 0 });
      expect(progress.at(-1)).toMatchObject({ step: "done", percent: 100 });
    } finally {
      bot.child.kill("SIGINT");
      expect((await bot.exited).code).toBe(0);
    }
  });
});

describe("parley tail across a server restart", () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it("resumes when the server comes back on the same port and database: every message printed once, in order", async () => {
    const db = freshDatabase();
    cleanup.push(() => fs.rmSync(db.dir, { recursive: true, force: true }));
    const start = (port: number) => startServerAt(port, db.url, { PARLEY_AUTH: "on", SHUTDOWN_TIMEOUT_MS: "1000" });
    let server: ParleyServer = await start(0);
    cleanup.push(() => server.close());
    const port = server.port;
    const { token } = await createPrincipalWithToken(server.deps.db, { name: "restart admin", role: "admin", expiresAt: null });
    const poster = createParleyClient({ url: server.url, token, retryDelayMs: () => 50 });
    cleanup.push(() => poster.close());
    const post = (from: number, to: number) => postNumbered(poster, session.id, from, to, { author: "ada" });
    const session = await poster.api.session.create.mutate({ title: "restart" });
    await post(1, 3);

    const env = { PARLEY_URL: server.url, PARLEY_TOKEN: token };
    const tail = startCli(["tail", session.id], env);
    const tailJson = startCli(["--json", "tail", session.id], env);
    cleanup.push(() => {
      tail.child.kill("SIGKILL");
      tailJson.child.kill("SIGKILL");
    });
    // Has the tail printed message n (a line of its own, or a JSON line)?
    const shown = (run: { result: Run }, n: number) => run.result.stdout.includes(`: message ${n}\n`) || run.result.stdout.includes(`"message ${n}"`);
    await waitFor(() => shown(tail, 3) && shown(tailJson, 3), "the history", 30_000);

    await server.close();
    await waitFor(() => tail.result.stderr.includes("connection lost"), "the tail to see the server go", 30_000);
    server = await start(port);
    // Posted on the new server, whether or not the tails have reconnected yet: they must get them from the back-fill or live.
    await post(4, 10);
    await waitFor(() => shown(tail, 10) && shown(tailJson, 10), "the tails to resume", 30_000);
    expect(tail.result.stderr).toContain("reconnected; resuming");
    await post(11, 12);
    await waitFor(() => shown(tail, 12) && shown(tailJson, 12), "live messages after the restart", 30_000);

    tail.child.kill("SIGINT");
    tailJson.child.kill("SIGINT");
    const [human, json] = await Promise.all([tail.exited, tailJson.exited]);
    const expected = range(1, 12);
    expect(human.code).toBe(130);
    expect(human.stdout.trim().split("\n")).toEqual(expected.map((n) => `#${n} restart admin "ada" (user): message ${n}`));
    expect(json.code).toBe(130);
    const events = jsonLines(json.stdout) as { id: string; event: { type: string; message: { content: string } } }[];
    expect(events.map((e) => [e.id, e.event.type, e.event.message.content])).toEqual(expected.map((n) => [String(n), "message.created", `message ${n}`]));
  });
});
