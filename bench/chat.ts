// Chat benchmark: a local fake OpenAI-compatible provider streams tokens at a
// fixed rate; we read it directly, then through Parley (chat.send → run →
// session.events) with N subscribers, and report the latency Parley adds per
// token (p50/p99) and to the first token. Everything runs in this process, on
// loopback; compare the columns of one run (absolute times drift).
//   npm run bench:chat -- --subscribers 1,10,50 --tokens 200 --rate 50
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { createParser } from "eventsource-parser";
import { createParleyClient } from "../src/client";
import { PARLEY_BENCH_ENV } from "./targets";
import { startServer } from "../src/server/app";
import { parseConfig } from "../src/server/env";
import { startFakeOpenAi, type FakeProvider } from "../tests/helpers/chat-fakes";

export interface ChatBenchOptions {
  /** Subscriber counts to measure, one row each. */
  subscribers: number[];
  tokens: number;
  /** Tokens per second the fake provider emits. */
  rate: number;
  /** A migrated SQLite URL; without it a temporary one is migrated with `prisma migrate deploy`. */
  databaseUrl?: string;
}

/** Fixed-width tokens, so a text length says how many tokens arrived. */
const TOKEN_WIDTH = 9;
const token = (i: number) => `t${String(i).padStart(7, "0")} `;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");

interface Measured {
  /** Per token: arrival minus the fake's emission time (ms). */
  latencies: number[];
  ttftMs: number;
}

/** Read the fake provider directly, as a client of it would. */
async function readDirect(fake: FakeProvider): Promise<Measured> {
  const started = performance.now();
  const response = await fetch(`${fake.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "fake", stream: true, messages: [{ role: "user", content: "go" }] }),
  });
  const arrivals: number[] = [];
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === "[DONE]") return;
      const chunk = JSON.parse(event.data) as { choices?: Array<{ delta?: { content?: string } }> };
      if (chunk.choices?.[0]?.delta?.content) arrivals.push(performance.now());
    },
  });
  const decoder = new TextDecoder();
  const reader = response.body?.getReader();
  for (;;) {
    const next = await reader?.read();
    if (!next || next.done) break;
    parser.feed(decoder.decode(next.value, { stream: true }));
  }
  const emitted = fake.emittedAt;
  return { latencies: arrivals.map((t, i) => t - (emitted[i] ?? t)), ttftMs: (arrivals[0] ?? Number.NaN) - started };
}

export async function runChatBench(options: ChatBenchOptions): Promise<string> {
  let tempDir: string | undefined;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-bench-chat-"));
    databaseUrl = `file:${path.join(tempDir, "parley.db")}`;
    const root = path.resolve(import.meta.dirname, "..");
    const migrated = spawnSync(path.join(root, "node_modules", ".bin", "prisma"), ["migrate", "deploy"], {
      cwd: root,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      encoding: "utf8",
    });
    if (migrated.status !== 0) throw new Error(`prisma migrate deploy failed:\n${migrated.stdout}\n${migrated.stderr}`);
  }
  const fake = await startFakeOpenAi();
  const tokens = Array.from({ length: options.tokens }, (_, i) => token(i));
  fake.answers = [{ kind: "tokens", tokens, intervalMs: 1000 / options.rate }];
  const config = parseConfig({
    ...PARLEY_BENCH_ENV,
    NODE_ENV: "production",
    LOG_LEVEL: "silent",
    PORT: "0",
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: fake.url,
    CHAT_RUN_TIMEOUT_MS: "3600000",
  });
  const server = await startServer({ config });
  const rows: string[] = [];
  try {
    const admin = createParleyClient({ url: server.url });
    const agent = (await admin.api.agent.list.query()).find((a) => a.provider === "openai");
    if (!agent) throw new Error("the OpenAI-compatible agent was not seeded");
    for (const n of options.subscribers) {
      const direct = await readDirect(fake);
      const session = await admin.api.session.create.mutate({ title: `bench ${n}` });
      const clients = Array.from({ length: n }, () => createParleyClient({ url: server.url }));
      const latencies: number[] = [];
      const firstArrivals: number[] = [];
      let finished = 0;
      let assistantId = "";
      const done = new Promise<void>((resolve) => {
        for (const client of clients) {
          const arrivals: number[] = [];
          let length = 0;
          client.api.session.events.subscribe(
            { sessionId: session.id },
            {
              onData: ({ data }) => {
                const now = performance.now();
                if (data.type === "chat.delta" || data.type === "chat.snapshot") {
                  length = data.offset + data.text.length;
                  for (let i = arrivals.length; i < Math.floor(length / TOKEN_WIDTH); i++) arrivals.push(now);
                } else if (data.type === "message.updated" && data.message.id === assistantId && data.message.status !== "streaming") {
                  const emitted = fake.emittedAt;
                  arrivals.forEach((t, i) => latencies.push(t - (emitted[i] ?? t)));
                  if (arrivals[0] !== undefined) firstArrivals.push(arrivals[0]);
                  if (++finished === n) resolve();
                }
              },
            },
          );
        }
      });
      while (server.deps.bus.listenerCount() < n) await new Promise((r) => setTimeout(r, 5));
      const sentAt = performance.now();
      const sent = await admin.api.chat.send.mutate({ sessionId: session.id, content: "go", agentId: agent.id });
      assistantId = sent.assistantMessageId;
      await done;
      await Promise.all(clients.map((c) => c.close()));
      const parleyTtft = percentile(firstArrivals, 50) - sentAt;
      const d50 = percentile(direct.latencies, 50);
      const d99 = percentile(direct.latencies, 99);
      const p50 = percentile(latencies, 50);
      const p99 = percentile(latencies, 99);
      rows.push(
        `| ${n} | ${options.tokens} | ${options.rate} | ${ms(d50)} | ${ms(d99)} | ${ms(p50)} | ${ms(p99)} | ${ms(p50 - d50)} | ${ms(p99 - d99)} | ${ms(direct.ttftMs)} | ${ms(parleyTtft)} | ${ms(parleyTtft - direct.ttftMs)} |`,
      );
    }
    await admin.close();
  } finally {
    await server.close();
    await fake.close();
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
  }
  return [
    "Chat streaming through Parley vs reading the fake provider directly (ms; per-token latency = arrival − emission at the fake provider; Parley TTFT = median subscriber's first token − chat.send call)",
    "",
    "| subscribers | tokens | tokens/s | direct p50 | direct p99 | Parley p50 | Parley p99 | added p50 | added p99 | direct TTFT | Parley TTFT | added TTFT |",
    "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ...rows,
  ].join("\n");
}

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const table = await runChatBench({
    subscribers: argument("subscribers", "1,10,50").split(",").map(Number),
    tokens: Number(argument("tokens", "200")),
    rate: Number(argument("rate", "50")),
  });
  console.log(table);
  process.exit(0);
}
