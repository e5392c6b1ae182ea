// A pool of load worker threads holding subscribers for one target.
import { Worker } from "node:worker_threads";
import type { TargetName } from "../targets";

interface Report {
  received: number;
  latencies: number[];
}

export class SubscriberPool {
  private constructor(
    private readonly workers: { worker: Worker; count: number }[],
    /** Time until every subscriber was connected and subscribed. */
    readonly connectMs: number,
  ) {}

  static async open(opts: {
    target: TargetName;
    port: number;
    channel: string;
    subscribers: number;
    workers: number;
    recordLatency: boolean;
    /** Worker i connects from `localAddresses[i]` (127.0.0.2, ...): each source address has its own ~28,000 ephemeral ports. */
    localAddresses?: readonly string[];
  }): Promise<SubscriberPool> {
    const perWorker = Math.ceil(opts.subscribers / opts.workers);
    const started = performance.now();
    const entries: { worker: Worker; count: number }[] = [];
    for (let left = opts.subscribers; left > 0; left -= perWorker) {
      const count = Math.min(perWorker, left);
      const localAddress: string | undefined = opts.localAddresses?.[entries.length];
      const worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), {
        workerData: { target: opts.target, port: opts.port, channel: opts.channel, count, recordLatency: opts.recordLatency, ...(localAddress ? { localAddress } : {}) },
      });
      entries.push({ worker, count });
    }
    await Promise.all(
      entries.map(
        ({ worker }) =>
          new Promise<void>((resolve, reject) => {
            worker.once("error", reject);
            worker.once("message", () => resolve());
          }),
      ),
    );
    return new SubscriberPool(entries, performance.now() - started);
  }

  /** Per-worker delivery counts and the latencies recorded since the last report. */
  async report(): Promise<{ received: number; caughtUp: number; latencies: number[] }> {
    const reports = await Promise.all(
      this.workers.map(
        ({ worker, count }) =>
          new Promise<Report & { count: number }>((resolve) => {
            worker.once("message", (r: Report) => resolve({ ...r, count }));
            worker.postMessage({ type: "report" });
          }),
      ),
    );
    return {
      received: reports.reduce((sum, r) => sum + r.received, 0),
      // Messages every subscriber has received (the slowest worker's average).
      caughtUp: Math.min(...reports.map((r) => Math.floor(r.received / r.count))),
      latencies: ([] as number[]).concat(...reports.map((r) => r.latencies)),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        ({ worker }) =>
          new Promise<void>((resolve) => {
            worker.once("exit", () => resolve());
            worker.postMessage({ type: "close" });
            setTimeout(() => void worker.terminate(), 3_000).unref();
          }),
      ),
    );
  }
}
