// The Redis connection the rate limiters keep their buckets in when REDIS_URL
// is set, so a principal's calls per second are counted across every instance.
// It never queues or waits: while Redis is unreachable a call fails at once
// and the limiter falls back to its in-memory insurance bucket (per instance).
import { Redis } from "ioredis";
import type { Logger } from "pino";

/** A stuck Redis must not stall every call: past this, the in-memory bucket decides. */
const COMMAND_TIMEOUT_MS = 250;

export function createLimiterStore(url: string, log: Logger): Redis {
  const client = new Redis(url, {
    connectionName: "parley-limits",
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1_000),
  });
  let down = false;
  client.on("ready", () => {
    if (down) log.info("rate-limit store reconnected: limits are shared across instances again");
    down = false;
  });
  // ioredis emits connection errors as events; without a listener they would crash the process.
  client.on("error", (err: Error) => {
    if (!down) log.warn({ err: err.message }, "rate-limit store unreachable: limits are per instance until it is back");
    down = true;
  });
  return client;
}
