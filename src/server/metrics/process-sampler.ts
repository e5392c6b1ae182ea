// Process figures between two readings: CPU %, memory, event-loop delay
// (monitorEventLoopDelay, reset at each reading) and GC pause time (a
// PerformanceObserver on 'gc' entries).
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from "node:perf_hooks";
import type { MetricsSample } from "../../shared/metrics";

/** The process part of a metrics sample (src/shared/metrics.ts is the one definition). */
export type ProcessReading = MetricsSample["process"];

export class ProcessSampler {
  private readonly loopDelay: IntervalHistogram;
  private readonly gcObserver: PerformanceObserver;
  private gcPauseMs = 0;
  /** Since process start, for the Prometheus counter. */
  gcPauseTotalMs = 0;
  private lastCpu = process.cpuUsage();
  private lastAt = performance.now();

  constructor() {
    this.loopDelay = monitorEventLoopDelay({ resolution: 10 });
    this.loopDelay.enable();
    this.gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        this.gcPauseMs += entry.duration;
        this.gcPauseTotalMs += entry.duration;
      }
    });
    this.gcObserver.observe({ entryTypes: ["gc"] });
  }

  /** Figures since the previous call (or since construction). */
  read(): ProcessReading {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedMs = Math.max(1, now - this.lastAt);
    this.lastCpu = process.cpuUsage();
    this.lastAt = now;
    const memory = process.memoryUsage();
    const hasLoopData = this.loopDelay.count > 0;
    const reading: ProcessReading = {
      cpuPercent: round(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100),
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      eventLoopDelayP50Ms: hasLoopData ? round(this.loopDelay.percentile(50) / 1e6) : 0,
      eventLoopDelayP99Ms: hasLoopData ? round(this.loopDelay.percentile(99) / 1e6) : 0,
      gcPauseMs: round(this.gcPauseMs),
    };
    this.loopDelay.reset();
    this.gcPauseMs = 0;
    return reading;
  }

  close(): void {
    this.loopDelay.disable();
    this.gcObserver.disconnect();
  }
}

export const round = (n: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
