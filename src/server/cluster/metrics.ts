// Metrics across instances. Every instance publishes each raw sample on the
// bus (`metrics`, labelled with its instance: collector.ts); this keeps the
// recent samples of every other instance it hears, and after each local sample
// composes one cluster-wide sample for the previous sample period from each
// instance's latest sample at or before it. `metrics.live` / `metrics.snapshot`
// serve any of these series (scope `instance` + a name, or scope `cluster`).
import type { MetricsSample } from "../../shared/metrics";
import type { Bus, Unsubscribe } from "../bus/bus";
import { aggregateWindow } from "../metrics/aggregate";
import { metricsChannel, type MetricsCollector, type SampleSource } from "../metrics/collector";
import type { ClusterMembers } from "./members";

/** The `instance` label of cluster-wide samples. */
export const CLUSTER_SERIES = "cluster";

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const r3 = (n: number) => Math.round(n * 1000) / 1000;
const maxOrNull = (xs: (number | null)[]) => {
  const present = xs.filter((x): x is number => x !== null);
  return present.length === 0 ? null : Math.max(...present);
};
const meanOrNull = (xs: (number | null)[]) => {
  const present = xs.filter((x): x is number => x !== null);
  return present.length === 0 ? null : r3(sum(present) / present.length);
};

/**
 * One cluster-wide sample from one sample per instance (taken over the same
 * period). What adds up across instances is summed: CPU (100 = one core),
 * memory, GC time, connections, subscriptions, presence, chat runs, rates,
 * deliveries, database queries, errors. Latencies are the worst instance's (event loop,
 * fan-out p99, database ping); fan-out p50 and the mean query time are
 * weighted by deliveries and queries; chat TTFT and tokens/s are means of the
 * instances that have them; GPUs are listed per instance. Host figures are
 * left out: instances may share a host, and a sum would count it twice.
 */
export function combineInstances(t: number, windowMs: number, samples: MetricsSample[]): MetricsSample {
  const p = samples.map((s) => s.process);
  const h = samples.map((s) => s.hub);
  const subscriptions: Record<string, number> = {};
  for (const hub of h) {
    for (const [path, n] of Object.entries(hub.subscriptions)) subscriptions[path] = (subscriptions[path] ?? 0) + n;
  }
  const weighted = aggregateWindow(t, windowMs, samples).hub; // fan-out p50 and query mean, weighted the same way
  const gpus = samples.flatMap((s) => (s.gpu ?? []).map((g) => ({ ...g, name: `${s.instance}: ${g.name}` })));
  return {
    instance: CLUSTER_SERIES,
    instances: samples.map((s) => s.instance).sort(),
    t,
    windowMs,
    samples: 1,
    process: {
      cpuPercent: r3(sum(p.map((x) => x.cpuPercent))),
      rssBytes: sum(p.map((x) => x.rssBytes)),
      heapUsedBytes: sum(p.map((x) => x.heapUsedBytes)),
      eventLoopDelayP50Ms: Math.max(0, ...p.map((x) => x.eventLoopDelayP50Ms)),
      eventLoopDelayP99Ms: Math.max(0, ...p.map((x) => x.eventLoopDelayP99Ms)),
      gcPauseMs: r3(sum(p.map((x) => x.gcPauseMs))),
    },
    hub: {
      connections: sum(h.map((x) => x.connections)),
      subscriptions,
      messagesInPerSec: r3(sum(h.map((x) => x.messagesInPerSec))),
      messagesOutPerSec: r3(sum(h.map((x) => x.messagesOutPerSec))),
      bytesOutPerSec: r3(sum(h.map((x) => x.bytesOutPerSec))),
      fanoutP50Ms: weighted.fanoutP50Ms,
      fanoutP99Ms: maxOrNull(h.map((x) => x.fanoutP99Ms)),
      fanoutDeliveries: sum(h.map((x) => x.fanoutDeliveries)),
      activeChatRuns: sum(h.map((x) => x.activeChatRuns)),
      chatTtftMs: meanOrNull(h.map((x) => x.chatTtftMs)),
      chatTokensPerSecond: meanOrNull(h.map((x) => x.chatTokensPerSecond)),
      dbPingMs: maxOrNull(h.map((x) => x.dbPingMs)),
      dbQueryMeanMs: weighted.dbQueryMeanMs,
      dbQueries: sum(h.map((x) => x.dbQueries)),
      presenceMembers: sum(h.map((x) => x.presenceMembers)),
      eventsPublishedPerSec: r3(sum(h.map((x) => x.eventsPublishedPerSec))),
      // Instances that predate the error counts add nothing.
      errorsPerSec: r3(sum(h.map((x) => x.errorsPerSec ?? 0))),
      internalErrorsPerSec: r3(sum(h.map((x) => x.internalErrorsPerSec ?? 0))),
    },
    gpu: gpus.length > 0 ? gpus.map((g, index) => ({ ...g, index })) : samples.some((s) => s.gpu) ? [] : null,
  };
}

/** Retained samples plus their live listeners: one series. */
class Series implements SampleSource {
  private readonly ring: MetricsSample[] = [];
  private readonly listeners = new Set<(sample: MetricsSample) => void>();

  constructor(private readonly capacity: number) {}

  push(sample: MetricsSample): void {
    this.ring.push(sample);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const listener of [...this.listeners]) listener(sample);
  }

  /** The newest retained sample that starts at or before `t`. */
  atOrBefore(t: number): MetricsSample | undefined {
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const sample = this.ring[i];
      if (sample && sample.t <= t) return sample;
    }
    return undefined;
  }

  latest(): MetricsSample | null {
    return this.ring.at(-1) ?? null;
  }

  samples(): MetricsSample[] {
    return [...this.ring];
  }

  subscribe(listener: (sample: MetricsSample) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export class ClusterMetrics {
  private readonly remote = new Map<string, Series>();
  private readonly cluster: Series;
  private readonly capacity: number;
  private previousLocal: MetricsSample | null = null;
  private unsubscribes: Unsubscribe[] = [];

  constructor(
    private readonly deps: { bus: Bus; members: ClusterMembers; collector: MetricsCollector; sampleMs: number; historyMs: number },
  ) {
    this.capacity = Math.max(1, Math.ceil(deps.historyMs / deps.sampleMs));
    this.cluster = new Series(this.capacity);
  }

  start(): void {
    const { bus, members, collector } = this.deps;
    this.unsubscribes.push(collector.onSample((sample) => this.local(sample)));
    if (!members.shared) return;
    this.unsubscribes.push(
      bus.subscribe(metricsChannel, (sample) => {
        if (sample.instance === members.instance) return;
        members.heard(sample.instance);
        this.series(sample.instance).push(sample);
      }),
    );
  }

  close(): void {
    for (const unsubscribe of this.unsubscribes) unsubscribe();
    this.unsubscribes = [];
  }

  /**
   * The series `metrics.live` and `metrics.snapshot` read: `cluster`, or one
   * instance's (this one when `instance` is omitted; empty until another
   * instance's first sample arrives); null for an instance that is not up.
   */
  source(scope: "instance" | "cluster", instance?: string): (SampleSource & { latest(): MetricsSample | null }) | null {
    const { members, collector } = this.deps;
    if (scope === "cluster") return this.cluster;
    if (instance === undefined || instance === members.instance) {
      return {
        samples: () => collector.samples(),
        subscribe: (listener) => collector.onSample(listener),
        latest: () => collector.snapshot(),
      };
    }
    if (!members.alive().includes(instance)) return null;
    return this.series(instance);
  }

  private series(instance: string): Series {
    let series = this.remote.get(instance);
    if (!series) {
      series = new Series(this.capacity);
      this.remote.set(instance, series);
    }
    return series;
  }

  /**
   * A local sample closes the previous period: its cluster sample combines
   * the previous local sample with each other instance's latest sample at or
   * before it (instances sample on the same METRICS_SAMPLE_MS grid, so that is
   * the same period unless one is late; older than 3 periods counts as missing).
   */
  private local(sample: MetricsSample): void {
    const previous = this.previousLocal;
    this.previousLocal = sample;
    if (!previous) return;
    const alive = new Set(this.deps.members.alive());
    const parts = [previous];
    for (const [instance, series] of this.remote) {
      if (!alive.has(instance)) {
        this.remote.delete(instance);
        continue;
      }
      const theirs = series.atOrBefore(previous.t);
      if (theirs && theirs.t > previous.t - 3 * this.deps.sampleMs) parts.push(theirs);
    }
    this.cluster.push(combineInstances(previous.t, previous.windowMs, parts));
  }
}
