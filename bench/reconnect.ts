// The reconnect scenario (`npm run bench -- reconnect`): N SDK clients
// (createParleyClient with its default schedule: full jitter under a 4 s cap,
// /api/health probes while waiting) subscribed to one session, in worker
// threads. The server is killed (SIGKILL), stays down DOWN_MS while the
// clients back off, and starts again on the same port and database; one
// message is posted as soon as it listens. Per round it reports when the
// clients' WebSockets opened again and when that message reached them, both
// from the moment the restarted server listened, and the connect burst: the
// most WebSocket opens in one 100 ms window, and how long the opens spread.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { createParleySession } from "./publisher";
import type { ResultRow } from "./run";
import { median } from "./stats";
import { startTarget, type RunningTarget } from "./targets";
import { freePort } from "../tests/helpers/redis";

export interface ReconnectSizes {
  clients: number;
  workers: number;
}

/** How long the server stays down: the clients' backoff grows meanwhile (a restart took 1.8–4.9 s in the field). */
const DOWN_MS = 3_000;
const WINDOW_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

interface Report {
  openedAt: (number | null)[];
  resumedAt: (number | null)[];
}

async function post(port: number, sessionId: string, content: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/api/trpc/message.post`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ json: { sessionId, content } }),
  });
  if (!response.ok) throw new Error(`message.post failed: HTTP ${response.status} ${await response.text()}`);
}

function ask(worker: Worker, message: object, answer: string): Promise<Report> {
  return new Promise((resolve) => {
    const onMessage = (reply: { type: string } & Report) => {
      if (reply.type !== answer) return;
      worker.off("message", onMessage);
      resolve(reply);
    };
    worker.on("message", onMessage);
    worker.postMessage(message);
  });
}

interface RoundResult {
  openP50: number;
  openP99: number;
  openMax: number;
  resumedP50: number;
  resumedP99: number;
  resumedMax: number;
  peakOpensPerWindow: number;
  burstMs: number;
}

async function oneRound(sizes: ReconnectSizes, env: Record<string, string>): Promise<RoundResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-bench-reconnect-"));
  const template = env.PARLEY_BENCH_TEMPLATE_DB;
  if (!template) throw new Error("PARLEY_BENCH_TEMPLATE_DB is required");
  fs.copyFileSync(template, path.join(dir, "parley.db"));
  const serverEnv = { ...env, DATABASE_URL: `file:${path.join(dir, "parley.db")}`, PORT: String(await freePort()) };
  let target: RunningTarget = await startTarget("parley", serverEnv);
  const workers: Worker[] = [];
  try {
    const sessionId = await createParleySession(target.port, "reconnect");
    await post(target.port, sessionId, "before the crash");
    const perWorker = Math.ceil(sizes.clients / sizes.workers);
    for (let left = sizes.clients; left > 0; left -= perWorker) {
      workers.push(new Worker(new URL("./load/reconnect-entry.mjs", import.meta.url), { workerData: { port: target.port, sessionId, count: Math.min(perWorker, left) } }));
    }
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      w.once("error", reject);
      w.once("message", () => resolve());
    })));

    target.child.kill("SIGKILL");
    await new Promise((r) => target.child.once("exit", r));
    for (const w of workers) w.postMessage({ type: "killed", resumeSeq: 2 });
    await sleep(DOWN_MS);
    target = await startTarget("parley", serverEnv);
    const listening = Date.now();
    await post(target.port, sessionId, "after the restart");

    let reports: Report[] = [];
    for (const deadline = Date.now() + 120_000; ; await sleep(250)) {
      reports = await Promise.all(workers.map((w) => ask(w, { type: "report" }, "report")));
      const waiting = reports.reduce((n, r) => n + r.resumedAt.filter((t) => t === null).length, 0);
      if (waiting === 0) break;
      if (Date.now() > deadline) throw new Error(`reconnect: ${waiting} of ${sizes.clients} clients not resumed after 120 s`);
    }
    const since = (times: (number | null)[]) => times.map((t) => (t ?? Number.NaN) - listening).sort((a, b) => a - b);
    const opened = since(reports.flatMap((r) => r.openedAt));
    const resumed = since(reports.flatMap((r) => r.resumedAt));
    const windows = new Map<number, number>();
    for (const t of opened) windows.set(Math.floor(t / WINDOW_MS), (windows.get(Math.floor(t / WINDOW_MS)) ?? 0) + 1);
    const result: RoundResult = {
      openP50: quantile(opened, 0.5),
      openP99: quantile(opened, 0.99),
      openMax: opened.at(-1) ?? Number.NaN,
      resumedP50: quantile(resumed, 0.5),
      resumedP99: quantile(resumed, 0.99),
      resumedMax: resumed.at(-1) ?? Number.NaN,
      peakOpensPerWindow: Math.max(...windows.values()),
      burstMs: (opened.at(-1) ?? 0) - (opened[0] ?? 0),
    };
    const histogram = [...windows].sort(([a], [b]) => a - b).map(([w, n]) => `${w * WINDOW_MS}:${n}`).join(" ");
    console.error(
      `[reconnect: ${sizes.clients} clients; WebSockets open again p50 ${result.openP50} ms, p99 ${result.openP99} ms, max ${result.openMax} ms; resumed p50 ${result.resumedP50} ms, p99 ${result.resumedP99} ms, max ${result.resumedMax} ms after listening; peak ${result.peakOpensPerWindow} opens per ${WINDOW_MS} ms]\n[opens per ${WINDOW_MS} ms window, ms after listening:count: ${histogram}]`,
    );
    return result;
  } finally {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once("exit", () => resolve());
            w.postMessage({ type: "close" });
            setTimeout(() => void w.terminate(), 5_000).unref();
          }),
      ),
    );
    await target.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function reconnectBurst(opts: { sizes: ReconnectSizes; rounds: number; env: Record<string, string> }): Promise<ResultRow[]> {
  const results: RoundResult[] = [];
  for (let round = 0; round < opts.rounds; round++) results.push(await oneRound(opts.sizes, opts.env));
  const scenario = `reconnect after SIGKILL (down ${DOWN_MS / 1000} s), ${opts.sizes.clients.toLocaleString("en-US")} SDK clients`;
  const row = (metric: string, unit: string, pick: (r: RoundResult) => number): ResultRow => ({ scenario, metric, unit, better: "lower", values: { parley: median(results.map(pick)) } });
  return [
    row("WebSocket open again, p50 after the restart listened", "ms", (r) => r.openP50),
    row("WebSocket open again, p99", "ms", (r) => r.openP99),
    row("WebSocket open again, last client", "ms", (r) => r.openMax),
    row("resumed (the first post after the restart received), p50", "ms", (r) => r.resumedP50),
    row("resumed, p99", "ms", (r) => r.resumedP99),
    row("resumed, last client", "ms", (r) => r.resumedMax),
    row(`connect burst: most WebSocket opens in one ${WINDOW_MS} ms window`, "opens", (r) => r.peakOpensPerWindow),
    row("connect burst: first to last open", "ms", (r) => r.burstMs),
  ];
}
