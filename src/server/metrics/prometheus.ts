// The Prometheus view of the same figures, served at GET /api/metrics. One
// registry per server (never prom-client's global one: tests run several
// servers in a process), with an `instance` label on every series.
// Names are documented in README.md ("Metrics"); the Grafana dashboard in
// ops/grafana/parley-dashboard.json uses them.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Bus } from "../bus/bus";
import type { MetricsCollector } from "./collector";
import type { HubStats, LatencyHistogram } from "./hub-stats";

const DB_BUCKETS_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const TTFT_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/**
 * A prom-client Histogram whose values come from a LatencyHistogram filled on
 * the hot path (prom-client's own `observe` allocates per call).
 */
type PromFamily = Awaited<ReturnType<Histogram<string>["get"]>>;

class HotPathHistogram extends Histogram<string> {
  private readonly metricName: string;
  private readonly help: string;

  constructor(
    private readonly source: LatencyHistogram,
    config: { name: string; help: string; registers: Registry[] },
  ) {
    super({ ...config, buckets: source.boundsMs.map((ms) => ms / 1000) });
    this.metricName = config.name;
    this.help = config.help;
  }

  // prom-client renders histograms through getForPromString (not in its
  // typings); both it and get() answer from the hot-path counts.
  override get(): Promise<PromFamily> {
    return Promise.resolve(this.family());
  }

  getForPromString(): Promise<PromFamily> {
    return Promise.resolve(this.family());
  }

  private family(): PromFamily {
    const name = this.metricName;
    const values: PromFamily["values"] = [];
    let cumulative = 0;
    this.source.boundsMs.forEach((ms, i) => {
      cumulative += this.source.counts[i] ?? 0;
      values.push({ labels: { le: ms / 1000 }, value: cumulative, metricName: `${name}_bucket` });
    });
    cumulative += this.source.counts[this.source.boundsMs.length] ?? 0;
    values.push({ labels: { le: "+Inf" }, value: cumulative, metricName: `${name}_bucket` });
    values.push({ labels: {}, value: this.source.sum / 1000, metricName: `${name}_sum` });
    values.push({ labels: {}, value: this.source.count, metricName: `${name}_count` });
    // The typings declare `type` as a numeric enum prom-client does not export; at run time it is the string.
    return { name, help: this.help, type: "histogram" as unknown as PromFamily["type"], aggregator: "sum", collect: () => undefined, values };
  }
}

/** A counter whose total is read from `total()` at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, total: () => number) {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(total());
    },
  });
}

export const METRICS_PATH = "/api/metrics";

/** GET /api/metrics: the registry made once the server's instance name is known (`start`). */
export class PrometheusEndpoint {
  private registry: Registry | null = null;

  constructor(
    private readonly deps: { stats: HubStats; collector: MetricsCollector; bus: Pick<Bus, "publishedCount" | "failedPublishCount">; log: Logger },
  ) {}

  start(instance: string, version: string): void {
    this.registry = createPrometheusRegistry({ instance, version, ...this.deps });
  }

  /** The registry; null before start. */
  get current(): Registry | null {
    return this.registry;
  }

  /** Answer GET /api/metrics (Prometheus text format 0.0.4). */
  serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      res.end(`${METRICS_PATH} answers GET only\n`);
      return;
    }
    const registry = this.registry;
    if (!registry) {
      res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
      res.end("metrics are not started yet\n");
      return;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" });
        res.end(req.method === "HEAD" ? undefined : text);
      },
      (error: unknown) => {
        this.deps.log.error({ err: error }, "rendering /api/metrics failed");
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end("metrics rendering failed\n");
      },
    );
  }

  close(): void {
    this.registry?.clear();
  }
}

function createPrometheusRegistry(opts: {
  instance: string;
  version: string;
  stats: HubStats;
  collector: MetricsCollector;
  bus: Pick<Bus, "publishedCount" | "failedPublishCount">;
}): Registry {
  const { stats, collector } = opts;
  const registry = new Registry();
  registry.setDefaultLabels({ instance: opts.instance });
  const latest = () => collector.snapshot();
  const registers = [registry];

  new Gauge({
    name: "parley_info",
    help: "Always 1; the version label says which Parley runs.",
    labelNames: ["version"],
    registers,
    collect() {
      this.set({ version: opts.version }, 1);
    },
  });
  const processGauge = (name: string, help: string, read: (s: NonNullable<ReturnType<typeof latest>>) => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        const s = latest();
        if (s) this.set(read(s));
      },
    });
  processGauge("parley_process_cpu_percent", "CPU use over the last sample (100 = one core).", (s) => s.process.cpuPercent);
  processGauge("parley_process_resident_memory_bytes", "Resident set size.", (s) => s.process.rssBytes);
  processGauge("parley_process_heap_used_bytes", "V8 heap in use.", (s) => s.process.heapUsedBytes);
  new Gauge({
    name: "parley_event_loop_delay_seconds",
    help: "Event-loop delay over the last sample (monitorEventLoopDelay), by quantile.",
    labelNames: ["quantile"],
    registers,
    collect() {
      const s = latest();
      if (!s) return;
      this.set({ quantile: "0.5" }, s.process.eventLoopDelayP50Ms / 1000);
      this.set({ quantile: "0.99" }, s.process.eventLoopDelayP99Ms / 1000);
    },
  });
  mirroredCounter(registry, "parley_gc_pause_seconds_total", "Time spent in GC pauses.", () => collector.gcPauseTotalMs() / 1000);

  new Gauge({
    name: "parley_ws_connections",
    help: "Open WebSocket connections.",
    registers,
    collect() {
      this.set(collector.snapshot()?.hub.connections ?? 0);
    },
  });
  new Gauge({
    name: "parley_subscriptions",
    help: "Active subscriptions by procedure (WebSocket and SSE).",
    labelNames: ["procedure"],
    registers,
    collect() {
      this.reset();
      for (const [procedure, n] of stats.subscriptions) this.set({ procedure }, n);
    },
  });
  mirroredCounter(registry, "parley_ws_messages_received_total", "WebSocket frames received from clients.", () => stats.messagesIn);
  mirroredCounter(registry, "parley_ws_messages_sent_total", "WebSocket frames sent to clients.", () => stats.messagesOut);
  mirroredCounter(registry, "parley_ws_bytes_sent_total", "Payload bytes of WebSocket frames sent (UTF-8).", () => stats.bytesOut);
  mirroredCounter(registry, "parley_bus_publishes_total", "Messages published on the bus.", () => opts.bus.publishedCount());
  mirroredCounter(registry, "parley_session_rereads_total", "Session streams that fell behind live (queue overflow, gap, bus resync) and re-read the log.", () => stats.sessionRereads);
  mirroredCounter(registry, "parley_session_reread_events_total", "Events those re-reads read from the log.", () => stats.sessionRereadEvents);
  mirroredCounter(registry, "parley_ws_held_frames_total", "Frames written to a socket that still had bytes waiting in the process (a slow reader): kept in memory, not handed to the kernel at once.", () => stats.heldFrames);
  mirroredCounter(registry, "parley_ws_held_bytes_total", "Bytes of those frames.", () => stats.heldBytes);
  mirroredCounter(registry, "parley_bus_publish_failures_total", "Bus publishes the transport could not carry (their channels' gaps are announced once it is back).", () => opts.bus.failedPublishCount());
  mirroredCounter(registry, "parley_events_published_total", "Agent events persisted (events.publish, system.demoFlow).", () => stats.eventsPublished);
  new HotPathHistogram(stats.fanout, {
    name: "parley_fanout_latency_seconds",
    help: "Live deliveries: the bus delivering a message to this instance to the WebSocket write of its frame (to the SSE stream for SSE). Replays and back-fills are not timed.",
    registers,
  });
  new Gauge({
    name: "parley_chat_active_runs",
    help: "Chat runs in progress.",
    registers,
    collect() {
      this.set(collector.activeChatRuns());
    },
  });
  const ttft = new Histogram({
    name: "parley_chat_ttft_seconds",
    help: "Time to first token of finished chat runs.",
    buckets: TTFT_BUCKETS_S,
    registers,
  });
  const tokensPerSecond = new Gauge({
    name: "parley_chat_tokens_per_second",
    help: "Generation speed of the last finished chat run.",
    registers,
  });
  stats.onChatRun = (run) => {
    if (run.ttftMs !== null) ttft.observe(run.ttftMs / 1000);
    if (run.tokensPerSecond !== null) tokensPerSecond.set(run.tokensPerSecond);
  };
  const db = new Histogram({
    name: "parley_db_query_duration_seconds",
    help: "Every database statement, by operation (<Model>.<verb>, ping, transaction, raw): the driver's time for each.",
    labelNames: ["operation"],
    buckets: DB_BUCKETS_S,
    registers,
  });
  stats.onDbQuery = (operation, ms) => db.observe({ operation }, ms / 1000);
  new Gauge({
    name: "parley_presence_members",
    help: "Connections present in sessions (session.presence subscribers).",
    registers,
    collect() {
      this.set(collector.snapshot()?.hub.presenceMembers ?? 0);
    },
  });
  const gpuGauge = (name: string, help: string, read: (g: { utilizationPercent: number; memoryUsedBytes: number; memoryTotalBytes: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["gpu", "name"],
      registers,
      collect() {
        this.reset();
        for (const g of collector.gpu.latest ?? []) this.set({ gpu: String(g.index), name: g.name }, read(g));
      },
    });
  gpuGauge("parley_gpu_utilization_percent", "GPU utilisation (nvidia-smi); absent without nvidia-smi.", (g) => g.utilizationPercent);
  gpuGauge("parley_gpu_memory_used_bytes", "GPU memory in use (nvidia-smi).", (g) => g.memoryUsedBytes);
  gpuGauge("parley_gpu_memory_total_bytes", "GPU memory (nvidia-smi).", (g) => g.memoryTotalBytes);
  return registry;
}
