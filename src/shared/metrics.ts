// What `metrics.live` and `metrics.snapshot` return: one sample (or one
// aggregated window of samples) of process, hub, database and GPU figures.
import { z } from "zod";

/** Window sizes a `metrics.live` subscriber may choose. */
export const metricsResolutions = [1_000, 5_000, 10_000, 60_000] as const;
export type MetricsResolutionMs = (typeof metricsResolutions)[number];

/**
 * Whose figures: this instance's (the default), another instance's by name
 * (`metrics.instances` lists them), or the whole cluster's (see README,
 * "Cluster metrics": sums of counts, rates, memory and CPU; the worst latency).
 */
export const metricsScopeInput = z.object({
  scope: z.enum(["instance", "cluster"]).default("instance"),
  /** With scope `instance`: which one (default: the one serving the call). */
  instance: z.string().min(1).max(200).optional(),
});

export const metricsSnapshotInput = metricsScopeInput.optional();

export const metricsLiveInput = metricsScopeInput.extend({
  resolutionMs: z
    .union(metricsResolutions.map((r) => z.literal(r)) as [z.ZodLiteral<1000>, z.ZodLiteral<5000>, z.ZodLiteral<10000>, z.ZodLiteral<60000>])
    .default(1_000),
  /** Resume: only windows that start after this one (a window start in ms, the tracked id). */
  lastEventId: z.string().max(32).nullish(),
});

export interface GpuSample {
  index: number;
  name: string;
  utilizationPercent: number;
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

/** The machine an instance runs on, beside the process's own figures. */
export interface HostSample {
  /** Busy time of all cores; 100 = one core busy (as the process's), so at most `cores` × 100. */
  cpuPercent: number;
  cores: number;
  /** Memory in use (total less what the kernel reports available). */
  memoryUsedBytes: number;
  memoryTotalBytes: number;
}

/**
 * One window. `t` is the window start (ms since the epoch, aligned to
 * `windowMs`) and is the tracked id. Gauges that spike (memory, connections,
 * subscriptions, event-loop p99, fan-out p99, GPU) are the maximum over the
 * window; CPU and p50s are averages; `*PerSec` are rates over the window.
 * A figure that could not be measured in the window is null.
 */
export interface MetricsSample {
  /** The instance it was measured on (PARLEY_INSTANCE), or `cluster` for a cluster-wide window. */
  instance: string;
  /** Cluster-wide windows only: the instances whose samples were combined. */
  instances?: string[];
  t: number;
  windowMs: number;
  /** Raw samples folded into this window. */
  samples: number;
  process: {
    /** 100 = one core busy. */
    cpuPercent: number;
    rssBytes: number;
    heapUsedBytes: number;
    eventLoopDelayP50Ms: number;
    eventLoopDelayP99Ms: number;
    /** Total GC pause time within the window. */
    gcPauseMs: number;
  };
  hub: {
    connections: number;
    /** Active subscriptions by procedure path. */
    subscriptions: Record<string, number>;
    messagesInPerSec: number;
    messagesOutPerSec: number;
    bytesOutPerSec: number;
    /** Publish → socket write, over deliveries in the window. */
    fanoutP50Ms: number | null;
    fanoutP99Ms: number | null;
    fanoutDeliveries: number;
    activeChatRuns: number;
    /** Mean over chat runs that finished in the recent-runs window. */
    chatTtftMs: number | null;
    chatTokensPerSecond: number | null;
    /** Round trip of the collector's `SELECT 1` through Prisma (latest in the window). */
    dbPingMs: number | null;
    /** Mean driver time of the database statements in the window (every one sent; see parley_db_query_duration_seconds). */
    dbQueryMeanMs: number | null;
    /** Database statements sent in the window. */
    dbQueries: number;
    presenceMembers: number;
    eventsPublishedPerSec: number;
    /**
     * Procedure calls answered with an error, per second (refusals included:
     * BAD_REQUEST, UNAUTHORIZED, TOO_MANY_REQUESTS, ...). Absent in samples of
     * instances that predate it (a cluster in a rolling upgrade).
     */
    errorsPerSec?: number;
    /** Of those, INTERNAL_SERVER_ERROR: the server's own failures. Absent as errorsPerSec. */
    internalErrorsPerSec?: number;
  };
  /** The host's CPU and memory (the maximum over the window; CPU averaged). Absent in cluster-wide windows (instances may share a host) and in samples of older instances. */
  host?: HostSample;
  /** null where nvidia-smi does not exist. */
  gpu: GpuSample[] | null;
}
