// The subscriber's side and the SDK's write path, Parley only (plus the raw
// `ws` client for comparison):
// - `client`: CPU per received event in the client process, for a raw `ws`
//   client of the plain-ws baseline, a raw client of Parley's session.events
//   (JSON.parse per frame), @trpc/client's wsLink, and the SDK's `tail`. Each
//   kind runs in a load process of its own, so its CPU is read from /proc.
// - `sdk`: post → delivered latency when the SDK posts as a user runs it
//   (createParleyClient with default options: HTTP for mutations), against
//   posting over the WebSocket, in the same run on the same server.
import { spawn, type ChildProcess } from "node:child_process";
import readline from "node:readline";
import { createParleyClient } from "@parley/client";
import { SubscriberPool } from "./load/pool";
import { createParleySession, openPublisher, openWsWriter, type Publisher } from "./publisher";
import type { ResultRow } from "./run";
import { latencySummary, median } from "./stats";
import { nowMs, payload, processUsage, root, startTarget, type RunningTarget } from "./targets";

export const CLIENT_KINDS = ["ws", "raw", "trpc", "tail"] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

const LABELS: Record<ClientKind, string> = {
  ws: "raw ws client of the plain-ws baseline (JSON.parse)",
  raw: "raw client of session.events (JSON.parse)",
  trpc: "@trpc/client wsLink + superjson",
  tail: "SDK tail()",
};

export interface ClientSizes {
  subscribers: number;
  rate: number;
  seconds: number;
  warmupSeconds: number;
}

export interface SdkSizes {
  subscribers: number;
  rate: number;
  seconds: number;
  warmupSeconds: number;
  workers: number;
}

/** Message content of the events both sides carry (a short chat message). */
const CONTENT_BYTES = 150;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A load process of `kind` subscribers (bench/load/client-cost.ts). */
async function startClients(kind: ClientKind, port: number, channel: string, count: number) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "bench/load/client-cost.ts", kind, String(port), channel, String(count)], {
    cwd: root,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: ((line: string) => void)[] = [];
  lines.on("line", (line) => waiting.shift()?.(line));
  const nextLine = () => new Promise<string>((resolve) => waiting.push(resolve));
  const ready = await nextLine();
  if (ready !== "READY") throw new Error(`client-cost ${kind}: expected READY, got ${ready}`);
  const pid = child.pid;
  if (pid === undefined) throw new Error("client-cost has no pid");
  return {
    pid,
    async count(): Promise<number> {
      const line = nextLine();
      child.stdin?.write("report\n");
      return Number((await line).replace("COUNT ", ""));
    },
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin?.write("stop\n");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Publish at `rate` for `seconds` (each publish one event). */
async function publishAtRate(publish: () => void, rate: number, seconds: number): Promise<number> {
  const total = Math.round(rate * seconds);
  const started = nowMs();
  for (let i = 0; i < total; i++) {
    const wait = started + (i * 1000) / rate - nowMs();
    if (wait > 0) await sleep(wait);
    publish();
  }
  return total;
}

/** One kind on a fresh server: client CPU µs per received event over the measured window. */
async function clientCostOnce(kind: ClientKind, sizes: ClientSizes, env: Record<string, string>): Promise<number> {
  const target: RunningTarget = await startTarget(kind === "ws" ? "wsPrepared" : "parley", env);
  try {
    const channel = kind === "ws" ? "client-cost" : await createParleySession(target.port, "client-cost");
    const publisher: Publisher = await openPublisher(target.name, target.port, channel);
    // The plain-ws baseline carries the event as JSON, as a hand-written server would; Parley posts the content.
    const publish =
      kind === "ws"
        ? () => publisher.publish(JSON.stringify({ type: "message.created", message: { content: payload(CONTENT_BYTES) } }))
        : () => publisher.publish(payload(CONTENT_BYTES));
    const clients = await startClients(kind, target.port, channel, sizes.subscribers);
    try {
      await publishAtRate(publish, sizes.rate, sizes.warmupSeconds);
      await sleep(500);
      const countBefore = await clients.count();
      const cpuBefore = processUsage(clients.pid).cpuMs;
      const published = await publishAtRate(publish, sizes.rate, sizes.seconds);
      const expected = countBefore + published * sizes.subscribers;
      const deadline = nowMs() + 10_000;
      let count = await clients.count();
      while (count < expected && nowMs() < deadline) {
        await sleep(50);
        count = await clients.count();
      }
      const cpuMs = processUsage(clients.pid).cpuMs - cpuBefore;
      return (cpuMs * 1000) / Math.max(1, count - countBefore);
    } finally {
      await clients.stop();
      publisher.close();
    }
  } finally {
    await target.stop();
  }
}

export async function clientCost(opts: { sizes: ClientSizes; rounds: number; env: Record<string, string> }): Promise<ResultRow[]> {
  const samples = new Map<ClientKind, number[]>();
  for (let round = 0; round < opts.rounds; round++) {
    const order = CLIENT_KINDS.map((_, i) => CLIENT_KINDS[(i + round) % CLIENT_KINDS.length] as ClientKind);
    for (const kind of order) {
      const us = await clientCostOnce(kind, opts.sizes, opts.env);
      samples.set(kind, [...(samples.get(kind) ?? []), us]);
      console.error(`[client: ${LABELS[kind]}: ${us.toFixed(1)} µs of client CPU per event]`);
    }
  }
  const of = (kind: ClientKind) => median(samples.get(kind) ?? []);
  const scenario = `subscriber side, ${opts.sizes.subscribers} subscribers in one process × ${opts.sizes.rate} msg/s`;
  const rows: ResultRow[] = CLIENT_KINDS.map((kind) => ({
    scenario,
    metric: `client CPU per event, ${LABELS[kind]}`,
    unit: "µs",
    better: "lower",
    values: kind === "ws" ? { wsPrepared: of(kind) } : { parley: of(kind) },
  }));
  rows.push({ scenario, metric: "client CPU per event, SDK tail() / raw ws client (target ≤ 1.3)", unit: "×", better: "lower", values: { parley: of("tail") / of("ws") } });
  return rows;
}

/** Post→delivered latency at `rate`, posting with `post` (stamped with the post time); warm-up not counted. */
async function postLatency(pool: SubscriberPool, post: (content: string) => Promise<unknown>, sizes: SdkSizes) {
  const phase = async (seconds: number) => {
    const failures: unknown[] = [];
    const pending: Promise<unknown>[] = [];
    const total = await publishAtRate(() => void pending.push(post(payload(200)).catch((error: unknown) => failures.push(error))), sizes.rate, seconds);
    await Promise.all(pending);
    if (failures.length > 0) throw new Error(`sdk: ${failures.length} of ${total} posts failed; first: ${String(failures[0])}`);
    const latencies: number[] = [];
    for (const deadline = nowMs() + 5_000; nowMs() < deadline; await sleep(50)) {
      const report = await pool.report();
      for (const value of report.latencies) latencies.push(value);
      if (latencies.length >= total * sizes.subscribers) break;
    }
    return latencies;
  };
  await phase(sizes.warmupSeconds);
  return latencySummary(await phase(sizes.seconds));
}

export async function sdkWritePath(opts: { sizes: SdkSizes; rounds: number; env: Record<string, string> }): Promise<ResultRow[]> {
  const { sizes } = opts;
  const results = { sdk: [] as { p50: number; p99: number }[], ws: [] as { p50: number; p99: number }[] };
  for (let round = 0; round < opts.rounds; round++) {
    const target = await startTarget("parley", opts.env);
    try {
      const sessionId = await createParleySession(target.port, "sdk");
      const pool = await SubscriberPool.open({ target: "parley", port: target.port, channel: sessionId, subscribers: sizes.subscribers, workers: Math.min(sizes.workers, sizes.subscribers), recordLatency: true });
      const sdk = createParleyClient({ url: `http://127.0.0.1:${target.port}` });
      const ws = await openWsWriter(target.port);
      try {
        for (const path of round % 2 === 0 ? (["sdk", "ws"] as const) : (["ws", "sdk"] as const)) {
          const post =
            path === "sdk"
              ? (content: string) => sdk.api.message.post.mutate({ sessionId, content })
              : (content: string) => ws.post(sessionId, content);
          const summary = await postLatency(pool, post, sizes);
          results[path].push(summary);
          console.error(`[sdk: posting over ${path === "sdk" ? "the SDK (HTTP)" : "the WebSocket"}: p50 ${summary.p50.toFixed(1)} ms, p99 ${summary.p99.toFixed(1)} ms]`);
        }
      } finally {
        ws.close();
        await sdk.close();
        await pool.close();
      }
    } finally {
      await target.stop();
    }
  }
  const scenario = `post → delivered, ${sizes.subscribers} subscribers × ${sizes.rate} posts/s`;
  const med = (path: "sdk" | "ws", key: "p50" | "p99") => median(results[path].map((r) => r[key]));
  return [
    { scenario, metric: "p50, posted with the SDK (HTTP, default options)", unit: "ms", better: "lower", values: { parley: med("sdk", "p50") } },
    { scenario, metric: "p99, posted with the SDK (HTTP, default options)", unit: "ms", better: "lower", values: { parley: med("sdk", "p99") } },
    { scenario, metric: "p50, posted over the WebSocket", unit: "ms", better: "lower", values: { parley: med("ws", "p50") } },
    { scenario, metric: "p99, posted over the WebSocket", unit: "ms", better: "lower", values: { parley: med("ws", "p99") } },
    { scenario, metric: "p99 SDK / WebSocket (target ≤ 2)", unit: "×", better: "lower", values: { parley: med("sdk", "p99") / med("ws", "p99") } },
  ];
}
