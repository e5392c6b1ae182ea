// Folding raw samples into windows of a subscriber's resolution. Pure: the
// same code replays history and follows live samples, so both agree.
import type { GpuSample, HostSample, MetricsSample } from "../../shared/metrics";

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const max = (xs: number[]) => (xs.length === 0 ? 0 : Math.max(...xs));
const r3 = (n: number) => Math.round(n * 1000) / 1000;

/** Mean of `values` weighted by `weights`; null when the weights sum to 0. */
function weighted(values: (number | null)[], weights: number[]): number | null {
  let total = 0;
  let acc = 0;
  values.forEach((v, i) => {
    const w = weights[i] ?? 0;
    if (v === null || w <= 0) return;
    acc += v * w;
    total += w;
  });
  return total > 0 ? r3(acc / total) : null;
}

const lastNonNull = <T>(xs: (T | null)[]): T | null => {
  for (let i = xs.length - 1; i >= 0; i--) if (xs[i] != null) return xs[i] as T;
  return null;
};

const maxOrNull = (xs: (number | null)[]): number | null => {
  const present = xs.filter((x): x is number => x !== null);
  return present.length === 0 ? null : Math.max(...present);
};

function mergeGpus(samples: MetricsSample[]): GpuSample[] | null {
  const byIndex = new Map<number, GpuSample>();
  let seen = false;
  for (const s of samples) {
    if (!s.gpu) continue;
    seen = true;
    for (const g of s.gpu) {
      const prev = byIndex.get(g.index);
      byIndex.set(
        g.index,
        prev
          ? {
              ...g,
              utilizationPercent: Math.max(prev.utilizationPercent, g.utilizationPercent),
              memoryUsedBytes: Math.max(prev.memoryUsedBytes, g.memoryUsedBytes),
            }
          : g,
      );
    }
  }
  return seen ? [...byIndex.values()] : null;
}

/** The host over the window: CPU averaged over the time each sample covers, memory at its highest; undefined when no sample has it. */
function mergeHosts(samples: MetricsSample[]): HostSample | undefined {
  const withHost = samples.filter((s): s is MetricsSample & { host: HostSample } => s.host !== undefined);
  const latest = withHost.at(-1)?.host;
  if (!latest) return undefined;
  return {
    cpuPercent: weighted(withHost.map((s) => s.host.cpuPercent), withHost.map((s) => s.windowMs)) ?? 0,
    cores: latest.cores,
    memoryUsedBytes: max(withHost.map((s) => s.host.memoryUsedBytes)),
    memoryTotalBytes: latest.memoryTotalBytes,
  };
}

/** A rate that older samples may lack: over the time of the samples that have it; undefined when none does. */
function optionalRate(values: (number | undefined)[], spans: number[]): number | undefined {
  return weighted(values.map((v) => v ?? null), spans.map((span, i) => (values[i] === undefined ? 0 : span))) ?? undefined;
}

/**
 * One window from raw samples (see MetricsSample for what is a max, a mean
 * or a rate). Rates are over the time the samples cover, so a window with a
 * missed tick is not under-reported.
 */
export function aggregateWindow(t: number, windowMs: number, samples: MetricsSample[]): MetricsSample {
  const spans = samples.map((s) => s.windowMs);
  const p = samples.map((s) => s.process);
  const h = samples.map((s) => s.hub);
  const subscriptions: Record<string, number> = {};
  for (const hub of h) {
    for (const [path, n] of Object.entries(hub.subscriptions)) subscriptions[path] = Math.max(subscriptions[path] ?? 0, n);
  }
  const deliveries = h.map((x) => x.fanoutDeliveries);
  const instances = [...new Set(samples.flatMap((s) => s.instances ?? []))].sort();
  const errorsPerSec = optionalRate(h.map((x) => x.errorsPerSec), spans);
  const internalErrorsPerSec = optionalRate(h.map((x) => x.internalErrorsPerSec), spans);
  const host = mergeHosts(samples);
  return {
    instance: samples[0]?.instance ?? "",
    ...(instances.length > 0 ? { instances } : {}),
    t,
    windowMs,
    samples: sum(samples.map((s) => s.samples)),
    process: {
      cpuPercent: weighted(p.map((x) => x.cpuPercent), spans) ?? 0,
      rssBytes: max(p.map((x) => x.rssBytes)),
      heapUsedBytes: max(p.map((x) => x.heapUsedBytes)),
      eventLoopDelayP50Ms: weighted(p.map((x) => x.eventLoopDelayP50Ms), spans) ?? 0,
      eventLoopDelayP99Ms: max(p.map((x) => x.eventLoopDelayP99Ms)),
      gcPauseMs: r3(sum(p.map((x) => x.gcPauseMs))),
    },
    hub: {
      connections: max(h.map((x) => x.connections)),
      subscriptions,
      messagesInPerSec: weighted(h.map((x) => x.messagesInPerSec), spans) ?? 0,
      messagesOutPerSec: weighted(h.map((x) => x.messagesOutPerSec), spans) ?? 0,
      bytesOutPerSec: weighted(h.map((x) => x.bytesOutPerSec), spans) ?? 0,
      fanoutP50Ms: weighted(h.map((x) => x.fanoutP50Ms), deliveries),
      fanoutP99Ms: maxOrNull(h.map((x) => x.fanoutP99Ms)),
      fanoutDeliveries: sum(deliveries),
      activeChatRuns: max(h.map((x) => x.activeChatRuns)),
      chatTtftMs: lastNonNull(h.map((x) => x.chatTtftMs)),
      chatTokensPerSecond: lastNonNull(h.map((x) => x.chatTokensPerSecond)),
      dbPingMs: maxOrNull(h.map((x) => x.dbPingMs)),
      dbQueryMeanMs: weighted(
        h.map((x) => x.dbQueryMeanMs),
        h.map((x) => x.dbQueries),
      ),
      dbQueries: sum(h.map((x) => x.dbQueries)),
      presenceMembers: max(h.map((x) => x.presenceMembers)),
      eventsPublishedPerSec: weighted(h.map((x) => x.eventsPublishedPerSec), spans) ?? 0,
      ...(errorsPerSec !== undefined ? { errorsPerSec } : {}),
      ...(internalErrorsPerSec !== undefined ? { internalErrorsPerSec } : {}),
    },
    ...(host ? { host } : {}),
    gpu: mergeGpus(samples),
  };
}

/**
 * Turns a stream of raw samples (each `t` = the start of its sampling
 * interval, `windowMs` = the interval) into complete windows of
 * `resolutionMs`, aligned to multiples of it. A window is emitted as soon as
 * its last expected sample arrives, or when a sample of a later window does.
 */
export class WindowFolder {
  private start = -1;
  /** Start of the last emitted window: samples at or before it are late and dropped. */
  private closed = Number.NEGATIVE_INFINITY;
  private pending: MetricsSample[] = [];

  constructor(private readonly resolutionMs: number) {}

  push(sample: MetricsSample): MetricsSample[] {
    const out: MetricsSample[] = [];
    const w = Math.floor(sample.t / this.resolutionMs) * this.resolutionMs;
    if (w <= this.closed) return out;
    if (this.pending.length > 0 && w > this.start) out.push(this.flush());
    this.start = w;
    this.pending.push(sample);
    if (sample.t + sample.windowMs >= w + this.resolutionMs) out.push(this.flush());
    return out;
  }

  private flush(): MetricsSample {
    const samples = this.pending;
    this.pending = [];
    this.closed = this.start;
    const only = samples[0];
    // A window that is exactly one raw sample is that sample (same object: fan-out stamps hold).
    if (samples.length === 1 && only && only.t === this.start && only.windowMs === this.resolutionMs) return only;
    return aggregateWindow(this.start, this.resolutionMs, samples);
  }
}
