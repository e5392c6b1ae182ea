// The slow-consumer scenario: one `session.events`
// subscriber stops reading while events flow at a fixed rate to N others.
// Parley only (the baselines have no persistence to resume from). Each round
// runs twice on a fresh server, alternating the order: without and with the
// paused client. It reports the others' publish→receive latency in both runs,
// the server's CPU per delivery, its peak RSS and the paused connection's peak
// send buffer, and what the pause cost the server (from /api/metrics: frames
// held in memory behind a slow reader, and the session log re-read); then the
// paused client reads again and must end with every persisted event exactly
// once, in order (it throws otherwise, and when the buffer passes its bound).
import WebSocket from "ws";
import { z } from "zod";
import { parseConfig } from "../src/server/env";
import { SubscriberPool } from "./load/pool";
import { createParleySession, openWsWriter, type Writer } from "./publisher";
import type { ResultRow } from "./run";
import { latencySummary, median } from "./stats";
import { nowMs, PARLEY_BENCH_ENV, payload, processUsage, startTarget, type RunningTarget } from "./targets";

export interface SlowConsumerSizes {
  /** Normal subscribers (in worker threads). */
  subscribers: number;
  /** Messages posted per run (each is one persisted event). */
  events: number;
  /** Offered posts per second, spread over `writers`. */
  rate: number;
  writers: number;
  workers: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A client-side keep-alive, as tRPC clients send: it keeps the server's ping timeout from closing a client that reads nothing. */
const CLIENT_PING_MS = 10_000;
/** A stall this long (no progress) fails the run. */
const STALL_MS = 60_000;
/** The bound allows one frame past WS_SOFT_BUFFER_BYTES (the check happens before a send); a message frame is at most about this. */
const ONE_FRAME_BYTES = 64 * 1024;

/** The bench server's effective limits (its environment over env.ts's defaults). */
const serverConfig = parseConfig({ ...process.env, ...PARLEY_BENCH_ENV });

/** A tRPC subscription reply: `started`, then `data` frames carrying the event's tracked id (its seq). */
const resultFrame = z.object({ result: z.object({ type: z.string(), id: z.string().optional() }) });

/**
 * A raw `session.events` subscriber whose WebSocket can stop reading:
 * `ws.pause()` pauses the TCP socket (no more read calls), so the kernel's
 * receive window fills and the backlog stays on the server. If the server drops
 * it, it reconnects from its last id, as any resuming client does.
 */
class PausableSubscriber {
  readonly ids: number[] = [];
  reconnects = 0;
  private socket: WebSocket | null = null;
  private paused = false;
  private closing = false;
  private keepAlive: NodeJS.Timeout | null = null;

  private constructor(
    private readonly port: number,
    private readonly sessionId: string,
  ) {}

  static async open(port: number, sessionId: string): Promise<PausableSubscriber> {
    const subscriber = new PausableSubscriber(port, sessionId);
    await subscriber.connect();
    return subscriber;
  }

  private connect(): Promise<void> {
    const socket = new WebSocket(`ws://127.0.0.1:${this.port}/api/trpc-ws`, { perMessageDeflate: false });
    this.socket = socket;
    const lastEventId = this.ids.at(-1);
    return new Promise((resolve, reject) => {
      socket.once("error", reject);
      socket.on("open", () =>
        socket.send(JSON.stringify({ id: 1, method: "subscription", params: { path: "session.events", input: { json: { sessionId: this.sessionId, lastEventId: lastEventId === undefined ? undefined : String(lastEventId) } } } })),
      );
      socket.on("message", (data: Buffer) => {
        const text = data.toString();
        if (text === "PING") return socket.send("PONG");
        if (text === "PONG") return;
        const frame = resultFrame.safeParse(JSON.parse(text));
        if (!frame.success) return;
        if (frame.data.result.type === "started") resolve();
        else if (frame.data.result.type === "data" && frame.data.result.id !== undefined) this.ids.push(Number(frame.data.result.id));
      });
      socket.on("close", () => {
        if (this.closing) return;
        this.reconnects++;
        this.connect().then(
          () => (this.paused ? this.socket?.pause() : undefined),
          (error: unknown) => console.error(`slow client: reconnect failed: ${String(error)}`),
        );
      });
    });
  }

  pause(): void {
    this.paused = true;
    this.socket?.pause();
    this.keepAlive = setInterval(() => this.socket?.send("PING"), CLIENT_PING_MS);
  }

  resume(): void {
    this.paused = false;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.socket?.resume();
  }

  close(): void {
    this.closing = true;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.socket?.terminate();
  }
}

/** Peak RSS of the server (/proc, every 100 ms) and peak bytes queued on any of its WebSocket connections (system.connections, every 500 ms). */
function watchServer(target: RunningTarget) {
  let peakRss = 0;
  let peakBuffered = 0;
  const rss = setInterval(() => (peakRss = Math.max(peakRss, processUsage(target.pid).rssBytes)), 100);
  const listing = z.object({ result: z.object({ data: z.object({ json: z.object({ connections: z.array(z.object({ bufferedAmount: z.number() })) }) }) }) });
  const buffered = setInterval(() => {
    void fetch(`http://127.0.0.1:${target.port}/api/trpc/system.connections`)
      .then(async (response) => listing.parse(await response.json()).result.data.json.connections)
      .then((connections) => (peakBuffered = Math.max(peakBuffered, ...connections.map((c) => c.bufferedAmount))))
      .catch(() => undefined);
  }, 500);
  return {
    stop() {
      clearInterval(rss);
      clearInterval(buffered);
      return { peakRss, peakBuffered };
    },
  };
}

/** Post `total` messages at `rate` per second, round-robin over `writers` (pipelined, not waiting for each acknowledgement). */
async function postAtRate(writers: Writer[], sessionId: string, total: number, rate: number, payloadBytes: number): Promise<number> {
  const started = nowMs();
  let sent = 0;
  let acked = 0;
  const failures: unknown[] = [];
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowMs() - started) * rate) / 1000) + 1);
    for (; sent < due; sent++) {
      writers[sent % writers.length]?.post(sessionId, payload(payloadBytes)).then(
        () => acked++,
        (error: unknown) => failures.push(error),
      );
    }
    await sleep(1);
  }
  for (let last = acked, since = nowMs(); acked + failures.length < total; await sleep(5)) {
    if (acked > last) [last, since] = [acked, nowMs()];
    if (nowMs() - since > STALL_MS) throw new Error(`slow consumer: ${total - acked} posts unacknowledged after ${STALL_MS} ms`);
  }
  if (failures.length > 0) throw new Error(`slow consumer: ${failures.length} of ${total} posts failed; first: ${String(failures[0])}`);
  return (nowMs() - started) / 1000;
}

/** The server's counters of what slow readers cost (parley_* series of /api/metrics). */
interface PauseCosts {
  heldFrames: number;
  heldBytes: number;
  rereads: number;
  rereadEvents: number;
}

async function pauseCosts(port: number): Promise<PauseCosts> {
  const text = await (await fetch(`http://127.0.0.1:${port}/api/metrics`)).text();
  const read = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);
  return {
    heldFrames: read("parley_ws_held_frames_total"),
    heldBytes: read("parley_ws_held_bytes_total"),
    rereads: read("parley_session_rereads_total"),
    rereadEvents: read("parley_session_reread_events_total"),
  };
}

interface RunResult {
  p50: number;
  p99: number;
  /** Server CPU per delivery to the normal subscribers (µs). */
  cpuUsPerDelivery: number;
  /** Counted from the start of the flow to the end of the run (the paused client's catch-up included). */
  costs: PauseCosts;
  peakRssMiB: number;
  peakBufferedKiB: number;
  postSeconds: number;
  /** Server CPU while events flowed, in % of one core (100 = one core busy). */
  cpuPercent: number;
  /** With the paused client: what it ended with. */
  slow?: { received: number; duplicates: number; reconnects: number; catchUpS: number };
}

async function oneRun(withSlowClient: boolean, sizes: SlowConsumerSizes, env: Record<string, string>, payloadBytes: number): Promise<RunResult> {
  const target = await startTarget("parley", env);
  try {
    const sessionId = await createParleySession(target.port, "slow-consumer");
    const pool = await SubscriberPool.open({ target: "parley", port: target.port, channel: sessionId, subscribers: sizes.subscribers, workers: Math.min(sizes.workers, sizes.subscribers), recordLatency: true });
    const slow = withSlowClient ? await PausableSubscriber.open(target.port, sessionId) : null;
    slow?.pause();
    const writers = await Promise.all(Array.from({ length: sizes.writers }, () => openWsWriter(target.port)));
    const watch = watchServer(target);
    const costsBefore = await pauseCosts(target.port);
    const cpuBefore = processUsage(target.pid).cpuMs;
    const flowStarted = nowMs();

    // Drain latencies from the workers while posting (one report in flight at a time).
    const latencies: number[] = [];
    let posting = true;
    const drain = (async () => {
      while (posting) {
        for (const value of (await pool.report()).latencies) latencies.push(value);
        await sleep(250);
      }
    })();
    const postSeconds = await postAtRate(writers, sessionId, sizes.events, sizes.rate, payloadBytes).finally(() => (posting = false));
    await drain;
    for (let seen = 0, since = nowMs(); ; await sleep(20)) {
      const report = await pool.report();
      for (const value of report.latencies) latencies.push(value);
      if (report.caughtUp >= sizes.events) break;
      if (report.received > seen) [seen, since] = [report.received, nowMs()];
      if (nowMs() - since > STALL_MS) throw new Error(`slow consumer: the ${sizes.subscribers} subscribers stalled at ${report.caughtUp} of ${sizes.events}`);
    }
    const { peakRss, peakBuffered } = watch.stop();
    const cpuMs = processUsage(target.pid).cpuMs - cpuBefore;
    const cpuPercent = (cpuMs / (nowMs() - flowStarted)) * 100;
    const cpuUsPerDelivery = (cpuMs * 1000) / (sizes.events * sizes.subscribers);
    for (const w of writers) w.close();
    await pool.close();

    const summary = latencySummary(latencies);
    const result: RunResult = {
      p50: summary.p50,
      p99: summary.p99,
      cpuUsPerDelivery,
      costs: { heldFrames: 0, heldBytes: 0, rereads: 0, rereadEvents: 0 },
      peakRssMiB: peakRss / 2 ** 20,
      peakBufferedKiB: peakBuffered / 1024,
      postSeconds,
      cpuPercent,
    };
    if (slow) {
      const bound = serverConfig.WS_SOFT_BUFFER_BYTES + ONE_FRAME_BYTES;
      if (peakBuffered > bound) throw new Error(`slow consumer: ${peakBuffered} bytes queued on one connection, past WS_SOFT_BUFFER_BYTES + one frame (${bound})`);
      const resumed = nowMs();
      slow.resume();
      for (let seen = 0, since = nowMs(); slow.ids.length < sizes.events; await sleep(20)) {
        if (slow.ids.length > seen) [seen, since] = [slow.ids.length, nowMs()];
        if (nowMs() - since > STALL_MS) throw new Error(`slow consumer: the paused client stalled at ${seen} of ${sizes.events} events after resuming`);
      }
      const catchUpS = (nowMs() - resumed) / 1000;
      await sleep(200); // anything extra (a duplicate) would arrive now
      slow.close();
      const ids = slow.ids;
      const duplicates = ids.length - new Set(ids).size;
      const inOrder = ids.length === sizes.events && ids.every((id, i) => id === i + 1);
      console.error(`slow client: received ${new Set(ids).size} of ${sizes.events}, duplicates ${duplicates}, reconnects ${slow.reconnects}, caught up in ${catchUpS.toFixed(1)} s`);
      if (!inOrder) throw new Error(`slow consumer: the paused client's ids are not exactly 1..${sizes.events} (got ${ids.length}, duplicates ${duplicates}, first wrong at index ${ids.findIndex((id, i) => id !== i + 1)})`);
      result.slow = { received: ids.length, duplicates, reconnects: slow.reconnects, catchUpS };
    }
    const costsAfter = await pauseCosts(target.port);
    result.costs = {
      heldFrames: costsAfter.heldFrames - costsBefore.heldFrames,
      heldBytes: costsAfter.heldBytes - costsBefore.heldBytes,
      rereads: costsAfter.rereads - costsBefore.rereads,
      rereadEvents: costsAfter.rereadEvents - costsBefore.rereadEvents,
    };
    return result;
  } finally {
    await target.stop();
  }
}

/** Rounds of (without, with) the paused client, the order alternating each round; rows of medians. */
export async function slowConsumer(opts: { sizes: SlowConsumerSizes; rounds: number; env: Record<string, string>; payloadBytes: number }): Promise<ResultRow[]> {
  const { sizes } = opts;
  const without: RunResult[] = [];
  const withSlow: RunResult[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    for (const slowFirst of round % 2 === 0 ? [false, true] : [true, false]) {
      const result = await oneRun(slowFirst, sizes, opts.env, opts.payloadBytes);
      (slowFirst ? withSlow : without).push(result);
      const { costs } = result;
      console.error(
        `[slow, round ${round + 1}: ${slowFirst ? "with" : "without"} the paused client: p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms, ${(sizes.events / result.postSeconds).toFixed(0)} posts/s acknowledged, server CPU ${result.cpuPercent.toFixed(0)} % (${result.cpuUsPerDelivery.toFixed(1)} µs per delivery), peak RSS ${result.peakRssMiB.toFixed(0)} MiB; held ${costs.heldFrames} frames (${(costs.heldBytes / 2 ** 20).toFixed(1)} MiB), log re-reads ${costs.rereads} (${costs.rereadEvents} events)]`,
      );
    }
  }
  const med = (runs: RunResult[], pick: (r: RunResult) => number) => median(runs.map(pick));
  const scenario = `slow consumer, ${sizes.subscribers} subscribers × ${sizes.rate} msg/s, ${sizes.events.toLocaleString("en-US")} events`;
  const row = (metric: string, unit: string, value: number): ResultRow => ({ scenario, metric, unit, better: "lower", values: { parley: value } });
  const [p50a, p50b, p99a, p99b] = [med(without, (r) => r.p50), med(withSlow, (r) => r.p50), med(without, (r) => r.p99), med(withSlow, (r) => r.p99)];
  const received = withSlow.map((r) => r.slow?.received ?? 0);
  return [
    row("others' p50 publish→receive, no slow client", "ms", p50a),
    row("others' p50 publish→receive, one paused client", "ms", p50b),
    row("others' p50 with / without", "×", p50b / p50a),
    row("others' p99 publish→receive, no slow client", "ms", p99a),
    row("others' p99 publish→receive, one paused client", "ms", p99b),
    row("others' p99 with / without (target ≤ 2)", "×", p99b / p99a),
    row("server CPU while events flowed, no slow client (100 = one core)", "%", med(without, (r) => r.cpuPercent)),
    row("server CPU while events flowed, one paused client", "%", med(withSlow, (r) => r.cpuPercent)),
    row("server CPU per delivery to the others, no slow client", "µs", med(without, (r) => r.cpuUsPerDelivery)),
    row("server CPU per delivery to the others, one paused client", "µs", med(withSlow, (r) => r.cpuUsPerDelivery)),
    row("frames held in memory behind a slow reader, no slow client", "frames", med(without, (r) => r.costs.heldFrames)),
    row("frames held in memory behind a slow reader, one paused client", "frames", med(withSlow, (r) => r.costs.heldFrames)),
    row("bytes of those held frames, one paused client", "MiB", med(withSlow, (r) => r.costs.heldBytes / 2 ** 20)),
    row("session log re-reads (streams that fell behind live), one paused client", "re-reads", med(withSlow, (r) => r.costs.rereads)),
    row("events re-read from the log, one paused client", "events", med(withSlow, (r) => r.costs.rereadEvents)),
    row("session log re-reads, no slow client", "re-reads", med(without, (r) => r.costs.rereads)),
    row("server peak RSS, no slow client", "MiB", med(without, (r) => r.peakRssMiB)),
    row("server peak RSS, one paused client", "MiB", med(withSlow, (r) => r.peakRssMiB)),
    row(`peak send buffer of one connection (the paused one; bound: WS_SOFT_BUFFER_BYTES ${serverConfig.WS_SOFT_BUFFER_BYTES / 1024} KiB + one frame)`, "KiB", med(withSlow, (r) => r.peakBufferedKiB)),
    row("paused client after resuming: time to receive the backlog", "s", med(withSlow, (r) => r.slow?.catchUpS ?? Number.NaN)),
    { scenario, metric: `paused client after resuming: events received exactly once, in order (of ${sizes.events}; duplicates 0)`, unit: "events", better: "higher", values: { parley: Math.min(...received) } },
  ];
}
