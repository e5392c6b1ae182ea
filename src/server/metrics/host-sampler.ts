// The host's figures between two readings: CPU busy time over all cores (from
// the kernel's per-core counters, os.cpus()) and memory in use (total less
// what the kernel reports available, os.freemem()).
import os from "node:os";
import type { HostSample } from "../../shared/metrics";
import { round } from "./process-sampler";

interface CpuTimes {
  busy: number;
  total: number;
}

function cpuTimes(): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const { user, nice, sys, irq, idle } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + irq + idle;
  }
  return { busy, total };
}

export class HostSampler {
  private last = cpuTimes();

  /** Figures since the previous call (or since construction). */
  read(): HostSample {
    const now = cpuTimes();
    const cores = Math.max(1, os.cpus().length);
    const total = now.total - this.last.total;
    const busyShare = total > 0 ? (now.busy - this.last.busy) / total : 0;
    this.last = now;
    const memoryTotalBytes = os.totalmem();
    return {
      cpuPercent: round(Math.min(1, Math.max(0, busyShare)) * cores * 100),
      cores,
      memoryUsedBytes: Math.max(0, memoryTotalBytes - os.freemem()),
      memoryTotalBytes,
    };
  }
}
