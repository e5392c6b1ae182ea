// The metrics collector: every METRICS_SAMPLE_MS it reads the process, the
// hub's counters, the database ping and the GPU probe into one sample labelled
// with its instance, keeps METRICS_HISTORY_MS of samples in memory, hands each
// to local listeners (this instance's own `metrics.live` streams: never through
// the bus, so they work while Redis is down) and publishes it on the `metrics`
// bus channel (other instances hear it there: cluster/metrics.ts).
// `liveWindows` is the resumable stream `metrics.live` serves from any source
// of samples (this instance's, another instance's, the cluster's).
import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { Logger } from "pino";
import type { MetricsSample } from "../../shared/metrics";
import { channel, type Bus } from "../bus/bus";
import type { Db } from "../db";
import { BoundedQueue } from "../services/bounded-queue";
import { WindowFolder } from "./aggregate";
import { GpuProbe } from "./gpu";
import { HostSampler } from "./host-sampler";
import type { HubStats } from "./hub-stats";
import { ProcessSampler, round } from "./process-sampler";

/** Every instance's raw samples (`sample.instance` says whose). */
export const metricsChannel = channel<MetricsSample>("metrics");

/** Raw samples of one instance or of the cluster: what `liveWindows` folds and streams. */
export interface SampleSource {
  /** The retained samples, oldest first. */
  samples(): MetricsSample[];
  /** Call `listener` with each new sample until the returned function is called. */
  subscribe(listener: (sample: MetricsSample) => void): () => void;
}

/** A live sample as a stream queued it: when it arrived (performance.now()), for the fan-out latency. */
interface LiveSample {
  sample: MetricsSample;
  receivedAt: number;
}

/** Chat runs finished this recently count toward "recent" TTFT and tokens/s. */
const RECENT_CHAT_RUNS_MS = 5 * 60_000;
/** Samples a slow live subscriber may have queued before it is re-read from history. */
const LIVE_QUEUE_LIMIT = 120;

export interface CollectorDeps {
  db: Db;
  bus: Bus;
  log: Logger;
  stats: HubStats;
  sampleMs: number;
  historyMs: number;
  nvidiaSmi: string;
  /** Open WebSocket connections. */
  connectionCount: () => number;
  /** Members present across all sessions. */
  presenceMembers: () => number;
  /** Chat runs streaming on this instance. */
  activeChatRuns: () => number;
}

export class MetricsCollector {
  private readonly history: MetricsSample[] = [];
  private readonly capacity: number;
  private readonly processSampler = new ProcessSampler();
  private readonly hostSampler = new HostSampler();
  readonly gpu: GpuProbe;
  private timer: NodeJS.Timeout | undefined;
  private lastTickAt = 0;
  private lastT = 0;
  private last = { messagesIn: 0, messagesOut: 0, bytesOut: 0, dbQueries: 0, dbQueryMs: 0, events: 0, errors: 0, internalErrors: 0 };
  private lastFanout: Float64Array;
  private pingInFlight = false;
  /** Latest `SELECT 1` round trip (ms). */
  lastDbPingMs: number | null = null;
  private closed = false;
  private readonly sampleListeners = new Set<(sample: MetricsSample) => void>();
  /** This server's name among instances (set by start); labels every sample. */
  instance = "";

  constructor(private readonly deps: CollectorDeps) {
    this.capacity = Math.max(1, Math.ceil(deps.historyMs / deps.sampleMs));
    this.gpu = new GpuProbe(deps.log, deps.nvidiaSmi);
    this.lastFanout = deps.stats.fanout.snapshotCounts();
  }

  get sampleMs(): number {
    return this.deps.sampleMs;
  }

  start(instance = this.instance): void {
    this.instance = instance;
    if (this.timer || this.closed) return;
    this.lastTickAt = performance.now();
    this.lastT = this.alignedNow();
    this.gpu.poll();
    this.ping();
    this.timer = setInterval(() => this.tick(), this.deps.sampleMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.processSampler.close();
    this.gpu.close();
  }

  /** One procedure call answered with an error of this tRPC code (trpc.ts's gate calls it). */
  recordProcedureError(code: string): void {
    this.deps.stats.recordProcedureError(code);
  }

  activeChatRuns(): number {
    try {
      return this.deps.activeChatRuns();
    } catch (error) {
      this.deps.log.warn({ err: error }, "active chat runs source threw");
      return 0;
    }
  }

  /** GC pause time since the server started (ms). */
  gcPauseTotalMs(): number {
    return this.processSampler.gcPauseTotalMs;
  }

  /** The latest raw sample; null before the first tick. */
  snapshot(): MetricsSample | null {
    return this.history.at(-1) ?? null;
  }

  /** A copy of the history, oldest first. */
  samples(): MetricsSample[] {
    return [...this.history];
  }

  /** Call `listener` with each new sample of this instance until the returned function is called. */
  onSample(listener: (sample: MetricsSample) => void): () => void {
    this.sampleListeners.add(listener);
    return () => this.sampleListeners.delete(listener);
  }

  private alignedNow(): number {
    return Math.round(Date.now() / this.deps.sampleMs) * this.deps.sampleMs;
  }

  private ping(): void {
    if (this.pingInFlight || this.closed) return;
    this.pingInFlight = true;
    const started = performance.now();
    this.deps.db.$queryRawUnsafe("SELECT 1").then(
      () => {
        // The round trip through Prisma; the statement itself reaches the query histogram as "ping" (db-queries.ts).
        this.lastDbPingMs = round(performance.now() - started);
        this.pingInFlight = false;
      },
      (error: unknown) => {
        this.pingInFlight = false;
        if (!this.closed) this.deps.log.warn({ err: error }, "metrics database ping failed");
        this.lastDbPingMs = null;
      },
    );
  }

  /** Take one sample now (the timer calls this; tests may too). */
  tick(): MetricsSample {
    const { stats } = this.deps;
    const nowPerf = performance.now();
    const elapsedS = Math.max(0.001, (nowPerf - this.lastTickAt) / 1000);
    this.lastTickAt = nowPerf;
    // t is the start of this sample's interval, on the sampleMs grid, strictly increasing.
    const end = Math.max(this.alignedNow(), this.lastT + this.deps.sampleMs);
    const t = this.lastT;
    this.lastT = end;

    const dbQueries = stats.dbQueries - this.last.dbQueries;
    const dbQueryMs = stats.dbQueryMs - this.last.dbQueryMs;
    const fanoutP50 = stats.fanout.quantileSince(this.lastFanout, 0.5);
    const fanoutP99 = stats.fanout.quantileSince(this.lastFanout, 0.99);
    let deliveries = 0;
    stats.fanout.counts.forEach((c, i) => (deliveries += c - (this.lastFanout[i] ?? 0)));
    const cutoff = Date.now() - RECENT_CHAT_RUNS_MS;
    const recent = stats.recentChatRuns.filter((r) => r.at >= cutoff);
    const mean = (xs: (number | null)[]) => {
      const present = xs.filter((x): x is number => x !== null);
      return present.length === 0 ? null : round(present.reduce((a, b) => a + b, 0) / present.length);
    };

    const sample: MetricsSample = {
      instance: this.instance,
      t,
      windowMs: end - t,
      samples: 1,
      process: this.processSampler.read(),
      hub: {
        connections: this.deps.connectionCount(),
        subscriptions: Object.fromEntries(stats.subscriptions),
        messagesInPerSec: round((stats.messagesIn - this.last.messagesIn) / elapsedS),
        messagesOutPerSec: round((stats.messagesOut - this.last.messagesOut) / elapsedS),
        bytesOutPerSec: round((stats.bytesOut - this.last.bytesOut) / elapsedS),
        fanoutP50Ms: fanoutP50 === null ? null : round(fanoutP50),
        fanoutP99Ms: fanoutP99 === null ? null : round(fanoutP99),
        fanoutDeliveries: deliveries,
        activeChatRuns: this.activeChatRuns(),
        chatTtftMs: mean(recent.map((r) => r.ttftMs)),
        chatTokensPerSecond: mean(recent.map((r) => r.tokensPerSecond)),
        dbPingMs: this.lastDbPingMs,
        dbQueryMeanMs: dbQueries > 0 ? round(dbQueryMs / dbQueries) : null,
        dbQueries,
        presenceMembers: this.deps.presenceMembers(),
        eventsPublishedPerSec: round((stats.eventsPublished - this.last.events) / elapsedS),
        errorsPerSec: round((stats.procedureErrors - this.last.errors) / elapsedS),
        internalErrorsPerSec: round((stats.internalErrors - this.last.internalErrors) / elapsedS),
      },
      host: this.hostSampler.read(),
      gpu: this.gpu.latest,
    };
    this.last = {
      messagesIn: stats.messagesIn,
      messagesOut: stats.messagesOut,
      bytesOut: stats.bytesOut,
      dbQueries: stats.dbQueries,
      dbQueryMs: stats.dbQueryMs,
      events: stats.eventsPublished,
      errors: stats.procedureErrors,
      internalErrors: stats.internalErrors,
    };
    this.lastFanout = stats.fanout.snapshotCounts();

    this.history.push(sample);
    if (this.history.length > this.capacity) this.history.shift();
    this.ping();
    this.gpu.poll();
    this.deps.bus.publish(metricsChannel, sample);
    for (const listener of [...this.sampleListeners]) listener(sample);
    return sample;
  }
}

export interface LiveWindowsOptions {
  resolutionMs: number;
  /** Resume: only windows that start after this one (a window start in ms). */
  lastEventId: string | null | undefined;
  signal: AbortSignal | undefined;
  /** Times the fan-out of windows made from live samples (never of replayed history). */
  stats: Pick<HubStats, "deliveredLive">;
}

/**
 * A resumable `metrics.live` stream over `source`: subscribe first, replay the
 * retained samples folded at `resolutionMs` (windows after `lastEventId` only),
 * then fold and emit live samples. Each window is
 * `tracked(String(window start), window)`. A slow subscriber whose queue
 * overflows is re-read from the retained samples.
 */
export async function* liveWindows(source: SampleSource, opts: LiveWindowsOptions): AsyncGenerator<TrackedEnvelope<MetricsSample>, void, unknown> {
  const queue = new BoundedQueue<LiveSample>(LIVE_QUEUE_LIMIT);
  const unsubscribe = source.subscribe((sample) => queue.push({ sample, receivedAt: performance.now() }));
  try {
    const parsed = opts.lastEventId != null && /^\d{1,15}$/.test(opts.lastEventId) ? Number(opts.lastEventId) : null;
    let cursor = parsed ?? Number.NEGATIVE_INFINITY;
    let lastSampleT = Number.NEGATIVE_INFINITY;
    const folder = new WindowFolder(opts.resolutionMs);
    /** The windows `samples` close (after the cursor); `receivedAt` (0 for history) times each as a live delivery. */
    const fold = function* (samples: Iterable<MetricsSample>, receivedAt: number) {
      for (const sample of samples) {
        if (sample.t <= lastSampleT) continue;
        lastSampleT = sample.t;
        for (const window of folder.push(sample)) {
          if (window.t <= cursor) continue;
          cursor = window.t;
          if (receivedAt !== 0) opts.stats.deliveredLive(receivedAt);
          yield tracked(String(window.t), window);
        }
      }
    };
    yield* fold(source.samples(), 0);
    while (!opts.signal?.aborted) {
      const next = await queue.take(opts.signal);
      if (next.kind === "closed") return;
      if (next.kind === "overflow") yield* fold(source.samples(), 0);
      else yield* fold([next.value.sample], next.value.receivedAt);
    }
  } finally {
    unsubscribe();
    queue.close();
  }
}
