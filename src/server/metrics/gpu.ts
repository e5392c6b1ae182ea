// GPU figures from `nvidia-smi`, only where it exists. The first failed run
// (not installed, no driver) disables the probe for the life of the server:
// no error is logged more than once at debug level, and readings stay null.
import { execFile } from "node:child_process";
import type { Logger } from "pino";
import type { GpuSample } from "../../shared/metrics";

const QUERY = ["--query-gpu=index,name,utilization.gpu,memory.used,memory.total", "--format=csv,noheader,nounits"];
const MIB = 1024 * 1024;

/** Parse nvidia-smi's CSV (one GPU per line); lines that do not parse are skipped. */
export function parseNvidiaSmi(output: string): GpuSample[] {
  const gpus: GpuSample[] = [];
  for (const line of output.split("\n")) {
    const parts = line.split(",").map((p) => p.trim());
    if (parts.length < 5) continue;
    const [index, name, util, used, total] = parts as [string, string, string, string, string];
    const numbers = [Number(index), Number(util), Number(used), Number(total)];
    if (numbers.some((n) => !Number.isFinite(n))) continue;
    gpus.push({
      index: Number(index),
      name,
      utilizationPercent: Number(util),
      memoryUsedBytes: Number(used) * MIB,
      memoryTotalBytes: Number(total) * MIB,
    });
  }
  return gpus;
}

export class GpuProbe {
  private disabled = false;
  private running = false;
  /** The latest reading; null when there is no GPU tooling. */
  latest: GpuSample[] | null = null;

  constructor(
    private readonly log: Logger,
    private readonly command = "nvidia-smi",
  ) {}

  /** Start a reading in the background (skipped while one is running). */
  poll(): void {
    if (this.disabled || this.running) return;
    this.running = true;
    execFile(this.command, QUERY, { timeout: 2_000, windowsHide: true }, (error, stdout) => {
      this.running = false;
      if (error) {
        this.disabled = true;
        this.latest = null;
        this.log.debug({ err: error.message }, "no GPU metrics: nvidia-smi is not available");
        return;
      }
      this.latest = parseNvidiaSmi(stdout);
    });
  }

  close(): void {
    this.disabled = true;
  }
}
