// The two measurements every fan-out scenario makes, on a pool of subscribers
// and one publisher already connected: throughput (publish as fast as every
// subscriber keeps up, a bounded window in flight) and latency (publish at a
// fixed rate, after a warm-up at the same rate that is not counted).
import type { SubscriberPool } from "./load/pool";
import type { Publisher } from "./publisher";
import { latencySummary } from "./stats";
import { nowMs, payload, PAYLOAD_BYTES, processUsage } from "./targets";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Publishes a subscriber may be behind by before the publisher waits. */
const WINDOW = 20;

/**
 * Deliveries per second over `seconds`, and the CPU time of `pids` (the
 * servers, summed) per delivery. The CPU of each process in `pids` is
 * reported separately too, in the same order.
 */
export async function measureThroughput(pool: SubscriberPool, publisher: Publisher, seconds: number, pids: number[]) {
  const before = pids.map((pid) => processUsage(pid).cpuMs);
  const started = nowMs();
  let published = 0;
  let received = 0;
  while (nowMs() - started < seconds * 1000) {
    const report = await pool.report();
    received = report.received;
    while (published - report.caughtUp < WINDOW) {
      publisher.publish(payload(PAYLOAD_BYTES));
      published++;
    }
    await sleep(2);
  }
  const elapsedS = (nowMs() - started) / 1000;
  const cpuMs = pids.map((pid, i) => processUsage(pid).cpuMs - (before[i] ?? 0));
  const perDelivery = (ms: number) => (ms * 1000) / Math.max(1, received);
  return { perSecond: received / elapsedS, received, cpuUsPerDelivery: perDelivery(cpuMs.reduce((a, b) => a + b, 0)), cpuUsPerDeliveryEach: cpuMs.map(perDelivery) };
}

/**
 * Publish→receive latency at `rate` per second for `seconds`, after
 * `warmupSeconds` at the same rate that are not counted: every server's code
 * paths get compiled by the JIT first (the first messages through a fresh Node
 * process are several times slower, and would make the tail).
 */
export async function measureLatency(pool: SubscriberPool, publisher: Publisher, rate: number, seconds: number, warmupSeconds: number) {
  const interval = 1000 / rate;
  let published = 0;
  /** Publish for `seconds`, then wait until every subscriber has everything (or 10 s); the latencies recorded. */
  const phase = async (phaseSeconds: number) => {
    const total = Math.round(rate * phaseSeconds);
    const started = nowMs();
    for (let i = 0; i < total; i++) {
      const wait = started + i * interval - nowMs();
      if (wait > 0) await sleep(wait);
      publisher.publish(payload(PAYLOAD_BYTES));
    }
    published += total;
    const latencies: number[] = [];
    const deadline = nowMs() + 10_000;
    for (;;) {
      const report = await pool.report();
      for (const value of report.latencies) latencies.push(value);
      if (report.caughtUp >= published || nowMs() > deadline) break;
      await sleep(20);
    }
    return latencies;
  };
  await phase(warmupSeconds);
  return latencySummary(await phase(seconds));
}
