// The hub's live counters, written on hot paths (every socket send, every
// live delivery). Everything here is a plain number or a preallocated typed
// array: no allocation per send.

/** Fan-out latency buckets (ms, upper bounds), also the Prometheus buckets (in seconds). */
export const FANOUT_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000] as const;

/** A fixed-bucket latency histogram; `observe` is a short loop and two increments. */
export class LatencyHistogram {
  /** counts[i] observations ≤ bounds[i] and > bounds[i-1]; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly boundsMs: readonly number[]) {
    this.counts = new Float64Array(boundsMs.length + 1);
  }

  observe(ms: number): void {
    const bounds = this.boundsMs;
    let i = 0;
    while (i < bounds.length && ms > (bounds[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += ms;
    this.count++;
  }

  /** A copy of the counts, to diff against later (one allocation per sample, not per observation). */
  snapshotCounts(): Float64Array {
    return this.counts.slice();
  }

  /**
   * Quantile q (0..1) of the observations made since `since` (a snapshot),
   * interpolated linearly inside the bucket; null when there were none.
   */
  quantileSince(since: Float64Array, q: number): number | null {
    let total = 0;
    for (let i = 0; i < this.counts.length; i++) total += (this.counts[i] as number) - (since[i] as number);
    if (total <= 0) return null;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = (this.counts[i] as number) - (since[i] as number);
      if (inBucket <= 0) continue;
      if (seen + inBucket >= rank) {
        const lower = i === 0 ? 0 : (this.boundsMs[i - 1] as number);
        // The +Inf bucket reports its lower bound: the honest "at least".
        const upper = i < this.boundsMs.length ? (this.boundsMs[i] as number) : lower;
        return lower + (upper - lower) * ((rank - seen) / inBucket);
      }
      seen += inBucket;
    }
    return this.boundsMs.at(-1) ?? null;
  }
}

/** What finished chat runs report (see MetricsCollector.recordChatRun). */
export interface ChatRunFigures {
  /** Time to first token; null when the run produced no token. */
  ttftMs: number | null;
  /** Completion tokens per second of generation; null when unknown. */
  tokensPerSecond: number | null;
}

export class HubStats {
  /** WebSocket frames received from clients (including PING/PONG text frames). */
  messagesIn = 0;
  /** WebSocket frames sent to clients. */
  messagesOut = 0;
  /** Payload bytes of those frames (UTF-8). */
  bytesOut = 0;
  /** Agent events persisted by events.publish and system.demoFlow. */
  eventsPublished = 0;
  /** Procedure calls answered with an error (trpc.ts's gate), and of those INTERNAL_SERVER_ERROR. */
  procedureErrors = 0;
  internalErrors = 0;
  /**
   * What slow consumers and lost messages cost. Re-reads: session streams
   * that fell behind live (a queue overflow, a gap, a bus resync) and read
   * the log again, and the events they read (a subscriber's first back-fill
   * is not counted). Held: frames written to a socket that still had bytes
   * waiting in the process (its reader was slow), so they were kept in memory
   * instead of going to the kernel at once.
   */
  sessionRereads = 0;
  sessionRereadEvents = 0;
  heldFrames = 0;
  heldBytes = 0;
  /**
   * Fan-out latency of live deliveries only: from the bus delivering a message
   * to this instance to its frame written to the socket (WebSocket), or its
   * value handed to tRPC (SSE and the other streams). Replayed history and
   * back-fills are not deliveries and are never timed.
   */
  readonly fanout = new LatencyHistogram(FANOUT_BUCKETS_MS);
  /** Active subscriptions by procedure path (over WS and SSE). */
  readonly subscriptions = new Map<string, number>();
  /**
   * Every statement sent to the database (the listener given to db.ts openStorage) and the driver's
   * time for it, labelled by db-queries.ts. Observed into the Prometheus histogram too (see prometheus.ts).
   */
  dbQueries = 0;
  dbQueryMs = 0;
  /** Set by prometheus.ts so db timings reach the histogram without this file importing prom-client. */
  onDbQuery: ((operation: string, ms: number) => void) | null = null;
  onChatRun: ((run: ChatRunFigures) => void) | null = null;

  /** Finished chat runs, newest last, bounded. */
  readonly recentChatRuns: (ChatRunFigures & { at: number })[] = [];

  /** A live delivery received from the bus at `receivedAt` (performance.now()) is handed over now. */
  deliveredLive(receivedAt: number): void {
    this.fanout.observe(performance.now() - receivedAt);
  }

  subscriptionOpened(path: string): void {
    this.subscriptions.set(path, (this.subscriptions.get(path) ?? 0) + 1);
  }

  subscriptionClosed(path: string): void {
    const n = (this.subscriptions.get(path) ?? 1) - 1;
    if (n <= 0) this.subscriptions.delete(path);
    else this.subscriptions.set(path, n);
  }

  /** One procedure call answered with an error of this tRPC code. */
  recordProcedureError(code: string): void {
    this.procedureErrors++;
    if (code === "INTERNAL_SERVER_ERROR") this.internalErrors++;
  }

  recordDbQuery(operation: string, ms: number): void {
    this.dbQueries++;
    this.dbQueryMs += ms;
    this.onDbQuery?.(operation, ms);
  }

  recordChatRun(run: ChatRunFigures): void {
    this.recentChatRuns.push({ ...run, at: Date.now() });
    if (this.recentChatRuns.length > 100) this.recentChatRuns.shift();
    this.onChatRun?.(run);
  }
}
