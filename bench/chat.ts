// Chat benchmark: a local fake OpenAI-compatible provider streams tokens at a
// fixed rate; a worker thread reads it directly, then Parley (its production
// server, in its own process, with the fake as its OPENAI_BASE_URL) streams
// the same answers through chat.send → run → session.events to N subscribers
// held by worker threads. Both sides record arrivals in worker threads and
// decode with JSON.parse alone, so the difference is what Parley adds per
// token (p50/p99, over one answer) and to the first token (median over that
// answer and a few short ones). Six unreported answers warm the server up
// first, and each row's readers (direct and Parley) get 2 s of unreported
// tokens before their measured answer. Each row runs --rounds rounds (direct
// and Parley, alternating which goes first) and reports medians. Loopback
// only; compare the columns of one run (absolute times drift). PARLEY_BENCH_CPU_PROF=<dir> writes a CPU profile of the server.
//   npm run bench:chat -- --subscribers 1,10,50 --tokens 1000 --rate 50 [--rounds 3] [--workers 2] [--ttft-answers 4]
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ensureWebBuild } from "../scripts/web-build";
import { createParleyClient } from "@parley/client";
import { HEALTH_PATH } from "../src/server/app";
import { startFakeOpenAi } from "../tests/helpers/chat-fakes";
import type { ChatReaderMessage, ChatReaderOptions } from "./load/chat-readers";
import { latencySummary, median } from "./stats";
import { migratedTemplate, nowMs, startTarget } from "./targets";

export interface ChatBenchOptions {
  /** Subscriber counts to measure, one row each. */
  subscribers: number[];
  tokens: number;
  /** Tokens per second the fake provider emits. */
  rate: number;
  /** A migrated SQLite file the server's database is copied from; without it one is migrated with `prisma migrate deploy`. */
  templateDb?: string;
  /** Worker threads holding a row's subscribers (default 2, at most one per subscriber). */
  workers?: number;
  /** Short answers (3 tokens) after the measured one, so each row's TTFT is a median of 1 + this many (default 4). */
  extraTtftAnswers?: number;
  /** Rounds per row (default 3): each reads directly and through Parley; the table gives each figure's median over the rounds. */
  rounds?: number;
}

/** Fixed-width tokens, so a text length says how many tokens arrived. */
const TOKEN_WIDTH = 9;
const token = (i: number) => `t${String(i).padStart(7, "0")} `;

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type ReaderReport = Extract<ChatReaderMessage, { type: "report" }>;

/** One load worker: `ready` when its readers can receive, then its reports in order; a failure or the deadline rejects them. */
function startReaders(options: ChatReaderOptions, deadlineMs: number) {
  const worker = new Worker(new URL("./load/chat-entry.mjs", import.meta.url), { workerData: options });
  let fail: (error: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  void failed.catch(() => undefined);
  const timer = setTimeout(() => fail(new Error(`chat readers (${options.mode}) did not finish within ${deadlineMs} ms`)), deadlineMs);
  worker.once("error", (error) => fail(error));
  worker.once("exit", (code) => fail(new Error(`chat readers (${options.mode}) exited with ${code}`)));
  const reports: ReaderReport[] = [];
  let waiting: ((report: ReaderReport) => void) | null = null;
  const ready = new Promise<void>((resolve) =>
    worker.on("message", (m: ChatReaderMessage) => {
      if (m.type === "ready") resolve();
      else if (waiting) waiting(m);
      else reports.push(m);
    }),
  );
  return {
    ready: Promise.race([ready, failed]),
    nextReport: () => {
      const queued = reports.shift();
      if (queued) return Promise.resolve(queued);
      return Promise.race([
        new Promise<ReaderReport>((resolve) => {
          waiting = (report) => {
            waiting = null;
            resolve(report);
          };
        }),
        failed,
      ]);
    },
    go: () => worker.postMessage("go"),
    stop: async () => {
      clearTimeout(timer);
      await worker.terminate();
    },
  };
}

export async function runChatBench(options: ChatBenchOptions): Promise<string> {
  const template = options.templateDb ? { file: options.templateDb, remove: () => undefined } : migratedTemplate();
  // Parley runs as `npm start` does: the production build of the current sources.
  ensureWebBuild();
  const fake = await startFakeOpenAi();
  const tokens = Array.from({ length: options.tokens }, (_, i) => token(i));
  /** Emission times at the fake provider (epoch ms) of the latest request's tokens. */
  const emitted = () => fake.emittedAt.map((t) => performance.timeOrigin + t);
  /** A worker's lifetime: one row's answers, with a wide margin. */
  const deadlineMs = ((options.tokens + 3 * (options.extraTtftAnswers ?? 4)) / options.rate) * 1000 + 60_000;
  const rows: string[] = [];
  const rounds = Math.max(1, options.rounds ?? 3);
  let target: Awaited<ReturnType<typeof startTarget>> | undefined;
  let admin: ReturnType<typeof createParleyClient> | undefined;
  try {
    target = await startTarget("parley", {
      PARLEY_BENCH_TEMPLATE_DB: template.file,
      OPENAI_BASE_URL: fake.url,
      CHAT_RUN_TIMEOUT_MS: "3600000",
    });
    const port = target.port;
    admin = createParleyClient({ url: `http://127.0.0.1:${port}` });
    const agent = (await admin.api.agent.list.query()).find((a) => a.provider === "openai");
    if (!agent) throw new Error("the OpenAI-compatible agent was not seeded");
    const agentId = agent.id;
    const client = admin;

    const longAnswer = { kind: "tokens" as const, tokens, intervalMs: 1000 / options.rate };
    const shortAnswer = { kind: "tokens" as const, tokens: tokens.slice(0, 3), intervalMs: 1000 / options.rate };
    const answers = [longAnswer, ...Array.from({ length: options.extraTtftAnswers ?? 4 }, () => shortAnswer)];

    /**
     * Answers through Parley to n subscribers spread over the workers: after
     * `warmUps` unreported answers, the first answer's per-token latencies and
     * each answer's TTFT.
     */
    const throughParley = async (n: number, script: (typeof answers)[number][], warmUps = 0) => {
      const session = await client.api.session.create.mutate({ title: `bench ${n}` });
      const workers = Math.max(1, Math.min(options.workers ?? 2, n));
      const pools = Array.from({ length: workers }, (_, w) => {
        const count = Math.floor(n / workers) + (w < n % workers ? 1 : 0);
        return startReaders({ mode: "parley", port, sessionId: session.id, count, tokenWidth: TOKEN_WIDTH }, deadlineMs);
      });
      try {
        await Promise.all(pools.map((p) => p.ready));
        // "started" is sent as the stream begins; let every stream reach its live tail.
        await sleep(200);
        const latencies: number[] = [];
        const ttfts: number[] = [];
        for (const [index, answer] of script.entries()) {
          fake.answers = [answer];
          const sentAt = nowMs();
          await client.api.chat.send.mutate({ sessionId: session.id, content: "go", agentId });
          const reports = await Promise.all(pools.map((p) => p.nextReport()));
          const i = index - warmUps;
          if (i < 0) continue;
          const sent = emitted();
          const firstArrivals: number[] = [];
          for (const arrivals of reports.flatMap((r) => r.arrivals)) {
            if (i === 0) arrivals.forEach((t, k) => latencies.push(t - (sent[k] ?? t)));
            if (arrivals[0] !== undefined) firstArrivals.push(arrivals[0]);
          }
          ttfts.push(median(firstArrivals) - sentAt);
        }
        return { latencies, ttftMs: median(ttfts) };
      } finally {
        await Promise.all(pools.map((p) => p.stop()));
      }
    };

    /** The same answers read from the fake provider directly by one worker. */
    const direct = async (script: (typeof answers)[number][], warmUps = 0) => {
      const reader = startReaders({ mode: "direct", providerUrl: fake.url, warmUpUrl: `http://127.0.0.1:${port}${HEALTH_PATH}`, tokenWidth: TOKEN_WIDTH }, deadlineMs);
      try {
        await reader.ready;
        const latencies: number[] = [];
        const ttfts: number[] = [];
        for (const [index, answer] of script.entries()) {
          fake.answers = [answer];
          reader.go();
          const { arrivals, requestedAt } = await reader.nextReport();
          const i = index - warmUps;
          if (i < 0) continue;
          const sent = emitted();
          const own = arrivals[0] ?? [];
          if (i === 0) own.forEach((t, k) => latencies.push(t - (sent[k] ?? t)));
          ttfts.push((own[0] ?? Number.NaN) - (requestedAt ?? Number.NaN));
        }
        return { latencies, ttftMs: median(ttfts) };
      } finally {
        await reader.stop();
      }
    };

    // Warm-up (not reported): a freshly started server compiles its hot paths during its first answers.
    await throughParley(1, [{ kind: "tokens", tokens: tokens.slice(0, 50), intervalMs: 1 }, ...Array.from({ length: 5 }, () => shortAnswer)]);

    // Each row first streams 2 s of tokens at the row's rate to its own readers, unreported, as the fan-out
    // latency scenario warms up (run.ts): the first answer to n subscribers compiles the fan-out for them.
    const rowWarmUp = { kind: "tokens" as const, tokens: tokens.slice(0, Math.max(1, 2 * options.rate)), intervalMs: 1000 / options.rate };
    for (const n of options.subscribers) {
      // Rounds alternate which side goes first; each round's Parley figures are paired with its own direct ones.
      const perRound: number[][] = [];
      const readDirect = () => direct([rowWarmUp, ...answers], 1);
      const readParley = () => throughParley(n, [rowWarmUp, ...answers], 1);
      for (let round = 0; round < rounds; round++) {
        let dr: Awaited<ReturnType<typeof readDirect>>;
        let p: Awaited<ReturnType<typeof readParley>>;
        if (round % 2 === 0) {
          dr = await readDirect();
          p = await readParley();
        } else {
          p = await readParley();
          dr = await readDirect();
        }
        const dl = latencySummary(dr.latencies);
        const pl = latencySummary(p.latencies);
        perRound.push([dl.p50, dl.p99, pl.p50, pl.p99, pl.p50 - dl.p50, pl.p99 - dl.p99, dr.ttftMs, p.ttftMs, p.ttftMs - dr.ttftMs]);
      }
      const medians = perRound[0]?.map((_, column) => median(perRound.map((figures) => figures[column] ?? Number.NaN))) ?? [];
      rows.push(`| ${n} | ${options.tokens} | ${options.rate} | ${medians.map(ms).join(" | ")} |`);
    }
  } finally {
    await admin?.close();
    await target?.stop();
    await fake.close();
    template.remove();
  }
  return [
    `Chat streaming through Parley vs reading the fake provider directly (ms, medians over ${rounds} rounds; each round reads directly and through Parley, in alternating order; added = Parley − direct within a round. Per-token latency = arrival − emission at the fake provider, over one answer of ${options.tokens} tokens after up to 2 s of unreported ones; TTFT = first token − request (direct) or − chat.send call (Parley, median subscriber), median over that answer and ${options.extraTtftAnswers ?? 4} short ones)`,
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
    tokens: Number(argument("tokens", "1000")),
    rate: Number(argument("rate", "50")),
    workers: Number(argument("workers", "2")),
    extraTtftAnswers: Number(argument("ttft-answers", "4")),
    rounds: Number(argument("rounds", "3")),
  });
  console.log(table);
  process.exit(0);
}
