// The many-connections scenario (issue 21 §2): N subscribed WebSocket
// connections to one instance, Parley against raw `ws` with each frame
// prepared (the physical limit), by default N = 100,000. One loopback source
// address has ~28,000 ephemeral ports toward one server port, so each load
// worker (PER_WORKER connections at most) connects from its own address:
// 127.0.0.2, 127.0.0.3, ...
// Reported: RSS per connection just connected and after IDLE seconds, the
// time to connect all, and publish→receive over every connection for a few
// publishes spaced out (each one reaches all N). Runs only when named
// (`npm run bench -- connections100k [--n 20000]`): both the server and the
// load process hold N sockets, so the open-file limit must be above N
// (`ulimit -n`), and at 100,000 it takes the machine for minutes.
import fs from "node:fs";
import { SubscriberPool } from "./load/pool";
import { createParleySession, openPublisher } from "./publisher";
import type { ResultRow } from "./run";
import { latencySummary, median } from "./stats";
import { nowMs, payload, PAYLOAD_BYTES, processUsage, startTarget, type TargetName } from "./targets";

export interface ManyConnectionsSizes {
  connections: number;
  /** Seconds with nothing happening before the idle reading. */
  idleSeconds: number;
  /** Publishes to all connections, each after the previous one reached everyone. */
  publishes: number;
}

/** Connections per load worker thread, each from its own source address (below its ~28,000 ephemeral ports). */
const PER_WORKER = 12_500;
/** File descriptors beyond the sockets (files, pipes, the database). */
const FD_MARGIN = 1_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This process's soft limit of open files (the servers it starts inherit it). */
function openFileLimit(): number {
  const line = fs.readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
}

/** Why N connections cannot be opened here, or null. */
export function manyConnectionsProblem(n: number): string | null {
  const limit = openFileLimit();
  if (limit >= n + FD_MARGIN) return null;
  return `${n} connections need an open-file limit of at least ${n + FD_MARGIN} for the server and for the load process; this one is ${limit} (raise it: ulimit -n ${Math.max(2 * n, 200_000)}, as root or through LimitNOFILE)`;
}

interface Sample {
  connectedKib: number;
  idleKib: number;
  connectS: number;
  p50: number;
  p99: number;
  max: number;
}

async function measure(name: TargetName, sizes: ManyConnectionsSizes, workers: number, env: Record<string, string>): Promise<Sample> {
  const n = sizes.connections;
  const target = await startTarget(name, env);
  try {
    const channel = name === "parley" ? await createParleySession(target.port, "many connections") : "many-connections";
    await sleep(200);
    const before = processUsage(target.pid).rssBytes;
    const addresses = Array.from({ length: workers }, (_, i) => `127.0.0.${2 + i}`);
    const pool = await SubscriberPool.open({ target: name, port: target.port, channel, subscribers: n, workers, recordLatency: true, localAddresses: addresses });
    try {
      await sleep(500);
      const connected = processUsage(target.pid).rssBytes;
      await sleep(sizes.idleSeconds * 1000);
      const idle = processUsage(target.pid).rssBytes;
      const publisher = await openPublisher(name, target.port, channel);
      const latencies: number[] = [];
      try {
        for (let k = 1; k <= sizes.publishes; k++) {
          publisher.publish(payload(PAYLOAD_BYTES));
          const deadline = nowMs() + 60_000;
          for (;;) {
            const report = await pool.report();
            for (const value of report.latencies) latencies.push(value);
            if (report.caughtUp >= k) break;
            if (nowMs() > deadline) throw new Error(`${name}: publish ${k} had not reached all ${n} connections after 60 s`);
            await sleep(50);
          }
        }
      } finally {
        publisher.close();
      }
      const perConnection = (rss: number) => (rss - before) / n / 1024;
      const summary = latencySummary(latencies);
      return { connectedKib: perConnection(connected), idleKib: perConnection(idle), connectS: pool.connectMs / 1000, p50: summary.p50, p99: summary.p99, max: summary.max };
    } finally {
      await pool.close();
    }
  } finally {
    await target.stop();
  }
}

/** Rows of the scenario: Parley and the targets given (raw `ws`, prepared, is the one the issue compares with), medians over `rounds`. */
export async function manyConnections(opts: { sizes: ManyConnectionsSizes; rounds: number; targets: readonly TargetName[]; env: Record<string, string> }): Promise<ResultRow[]> {
  const { sizes, rounds, targets } = opts;
  const problem = manyConnectionsProblem(sizes.connections);
  if (problem) throw new Error(`connections100k: ${problem}`);
  const workers = Math.max(1, Math.ceil(sizes.connections / PER_WORKER));
  const samples = new Map<TargetName, Sample[]>();
  for (let round = 0; round < rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as TargetName);
    for (const name of order) {
      const sample = await measure(name, sizes, workers, opts.env);
      samples.set(name, [...(samples.get(name) ?? []), sample]);
      console.error(`[connections100k: ${name}, ${sizes.connections}: ${sample.connectedKib.toFixed(1)} / ${sample.idleKib.toFixed(1)} KiB, connect ${sample.connectS.toFixed(1)} s, p99 ${sample.p99.toFixed(0)} ms]`);
    }
  }
  const pick = (key: keyof Sample) => Object.fromEntries([...samples].map(([name, s]) => [name, median(s.map((x) => x[key]))]));
  const scenario = `${sizes.connections} subscribed connections, one instance`;
  return [
    { scenario, metric: "server RSS per connection, just connected (target ≤ 8)", unit: "KiB", better: "lower", values: pick("connectedKib") },
    { scenario, metric: `server RSS per connection, after ${sizes.idleSeconds} s idle (target ≤ 8)`, unit: "KiB", better: "lower", values: pick("idleKib") },
    { scenario, metric: "time to connect all (target ≤ 1.5 × ws, prepared)", unit: "s", better: "lower", values: pick("connectS") },
    { scenario, metric: `p50 publish→receive over all, ${sizes.publishes} publishes`, unit: "ms", better: "lower", values: pick("p50") },
    { scenario, metric: `p99 publish→receive over all, ${sizes.publishes} publishes (target ≤ 1,000)`, unit: "ms", better: "lower", values: pick("p99") },
  ];
}
