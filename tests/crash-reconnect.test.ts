// Reconnects as fast as the server returns: the server process is killed
// (SIGKILL) under SUBSCRIBERS SDK clients subscribed to one session while an
// answer streams, and restarted on the same port and database. The restart
// marks the answer interrupted (a persisted event written before it listens),
// so a client has resumed when that event reaches it. Every client must have
// it within RESUME_BOUND_MS of the new process listening (its own log line's
// time), with its stream exactly the persisted one; the distribution is printed.
// PARLEY_CRASH_SUBSCRIBERS sizes it: 300 in npm test, 1,000 in npm run test:long
// (all clients share this one test process, whose own CPU then adds to the times).
import fs from "node:fs";
import { afterAll, expect, it } from "vitest";
import { z } from "zod";
import { createParleyClient, type ParleyClient } from "@parley/client";
import { startFakeOpenAi, type FakeProvider } from "./helpers/chat-fakes";
import { freshDatabase, spawnServer, waitFor, type ServerProcess } from "./helpers/server";
import { range } from "./helpers/stream";

const SUBSCRIBERS = Number(process.env.PARLEY_CRASH_SUBSCRIBERS ?? 300);
/** The promise: every client resumed within this long of the restarted server listening. */
const RESUME_BOUND_MS = 2_000;

const processes: ServerProcess[] = [];
const clients: ParleyClient[] = [];
let openai: FakeProvider | undefined;
let dbDir: string | undefined;
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  for (const p of processes) p.child.kill("SIGKILL");
  await openai?.close();
  if (dbDir) fs.rmSync(dbDir, { recursive: true, force: true });
});

/** When the server logged that it listens (pino's `time`, ms since the epoch). */
async function listeningAt(server: ServerProcess): Promise<number> {
  const line = () =>
    server
      .output()
      .split("\n")
      .find((l) => l.includes('"Parley is listening"'));
  await waitFor(() => line() !== undefined, "the listening log line");
  return z.object({ time: z.number() }).parse(JSON.parse(line() ?? "null")).time;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

it(`resumes all ${SUBSCRIBERS} subscribers within ${RESUME_BOUND_MS} ms of a SIGKILLed server listening again`, async () => {
  openai = await startFakeOpenAi();
  // Slow tokens: the answer is streaming when the process dies, without flooding 1,000 subscribers.
  openai.answers = [{ kind: "tokens", tokens: ["partial "], intervalMs: 1_000, endless: true }];
  const db = freshDatabase();
  dbDir = db.dir;
  const env = {
    DATABASE_URL: db.url,
    OPENAI_BASE_URL: openai.url,
    OPENAI_API_KEY: "k",
    MAX_CONNECTIONS_PER_ADDRESS: "100000",
    RATE_LIMIT_PER_CONNECTION: "100000",
    RATE_LIMIT_PER_PRINCIPAL: "100000",
    RATE_LIMIT_BURST: "100000",
  };
  const first = await spawnServer(env);
  processes.push(first);
  const port = new URL(first.url).port;

  const owner = createParleyClient({ url: first.url });
  clients.push(owner);
  const session = await owner.api.session.create.mutate({ title: "crash under subscribers" });
  const agentId = (await owner.api.agent.list.query()).find((a) => a.provider === "openai")?.id;
  const sent = await owner.api.chat.send.mutate({ sessionId: session.id, content: "talk", agentId });

  // Each subscriber: its persisted seqs, and when the answer's "interrupted" update reached it.
  const subscribers = range(1, SUBSCRIBERS).map(() => {
    const client = createParleyClient({ url: first.url });
    clients.push(client);
    const seen = { seqs: [] as number[], resumedAt: null as number | null, openAt: null as number | null, errors: 0, killed: false };
    client.connectionState.subscribe((state) => {
      if (state.state === "open" && seen.killed) seen.openAt ??= Date.now();
    });
    client.api.session.events.subscribe(
      { sessionId: session.id },
      {
        onData: ({ id, data }) => {
          if (data.type === "chat.delta" || data.type === "chat.snapshot") return;
          seen.seqs.push(Number(id));
          if (data.type === "message.updated" && data.message.id === sent.assistantMessageId && data.message.status === "error") seen.resumedAt = Date.now();
        },
        onError: () => seen.errors++,
      },
    );
    return seen;
  });
  await waitFor(() => subscribers.every((s) => s.seqs.length >= 2), `${SUBSCRIBERS} subscribers with the question and the streaming answer`, 60_000);

  for (const s of subscribers) s.killed = true;
  first.child.kill("SIGKILL");
  expect(await first.exited).toBe("SIGKILL");
  const second = await spawnServer({ ...env, PORT: port });
  processes.push(second);
  const listening = await listeningAt(second);

  await waitFor(() => subscribers.every((s) => s.resumedAt !== null), "every subscriber resumed", 60_000);
  const opened = subscribers.map((s) => (s.openAt ?? Number.NaN) - listening).sort((x, y) => x - y);
  console.info(`reconnected: p50 ${quantile(opened, 0.5)} ms, p90 ${quantile(opened, 0.9)} ms, max ${opened.at(-1)} ms`);
  const lateness = subscribers.map((s) => (s.resumedAt ?? Number.NaN) - listening).sort((x, y) => x - y);
  console.info(
    `${SUBSCRIBERS} subscribers resumed after the restart listened: p50 ${quantile(lateness, 0.5)} ms, p90 ${quantile(lateness, 0.9)} ms, p99 ${quantile(lateness, 0.99)} ms, max ${lateness.at(-1)} ms (bound ${RESUME_BOUND_MS} ms)`,
  );
  expect(lateness.at(-1)).toBeLessThanOrEqual(RESUME_BOUND_MS);
  const lastSeq = Math.max(...subscribers.flatMap((s) => s.seqs));
  for (const s of subscribers) expect(s.seqs).toEqual(range(1, lastSeq));
  expect(subscribers.reduce((n, s) => n + s.errors, 0)).toBe(0);
}, 180_000);
