// The scale-out scenario: what users judge when one machine is not enough.
// Parley: k instances sharing PostgreSQL and Redis behind ops/nginx/parley.conf
// (no sticky sessions). Socket.IO 4, what they would pick instead: k instances
// with @socket.io/redis-adapter on the same Redis, behind the same nginx shape
// (bench/baselines/socketio-nginx.conf). Subscribers connect through nginx
// (least_conn spreads them over the instances); the publisher connects to
// instance 1, so with k instances (k-1)/k of the deliveries cross Redis.
// k = 1 is the single-instance baseline as each is run alone: one process, no
// Redis, no nginx (Parley on SQLite with its in-process bus).
//
// Reported per k: fan-out deliveries/s, server CPU per delivery (summed over
// the instances), Redis's and nginx's CPU per delivery, and publish→receive
// p50/p99 at a fixed rate; then Parley's persisted writes and a resume on
// PostgreSQL against SQLite, in the same run.
import path from "node:path";
import { nginxPath, startNginx, type NginxServer } from "../tests/helpers/nginx";
import { postgresBinDir, startPostgres, type PostgresServer } from "../tests/helpers/postgres";
import { redisServerPath, startRedis, type RedisServer } from "../tests/helpers/redis";
import { SubscriberPool } from "./load/pool";
import { measureLatency, measureThroughput } from "./measure";
import { createParleySession, openPublisher } from "./publisher";
import type { ResultRow } from "./run";
import { median } from "./stats";
import { root, startTarget, type RunningTarget } from "./targets";
import { writeThenResume } from "./writes";

export interface ScaleOutSizes {
  /** Instance counts; 1 is the single-instance baseline. */
  instances: number[];
  subscribers: number;
  fanoutSeconds: number;
  latencyRate: number;
  latencySeconds: number;
  latencyWarmupSeconds: number;
  /** Persisted writes per database (half over each transport), then resumed. */
  writes: number;
  writers: number;
  workers: number;
}

type ScaleOutTarget = "parley" | "socketio";

/** What the scenario needs and this machine lacks (apt-get install -y redis-server postgresql nginx), or null. */
export function scaleOutMissing(): string | null {
  const missing = [!redisServerPath && "redis-server", !postgresBinDir && "PostgreSQL (initdb, pg_ctl)", !nginxPath && "nginx"].filter(Boolean);
  return missing.length > 0 ? `${missing.join(", ")} not installed (apt-get install -y redis-server postgresql nginx)` : null;
}

/** k instances of one target, ready for subscribers and a publisher. */
interface Cluster {
  /** Where subscribers connect: nginx, or the one instance. */
  entryPort: number;
  /** Where the publisher connects: instance 1. */
  publishPort: number;
  channel: string;
  serverPids: number[];
  nginx: NginxServer | null;
  stop: () => Promise<void>;
}

const SOCKETIO_NGINX_CONFIG = path.join(root, "bench", "baselines", "socketio-nginx.conf");

async function startCluster(target: ScaleOutTarget, k: number, shared: { redis: RedisServer; postgres: PostgresServer; env: Record<string, string> }): Promise<Cluster> {
  const database = target === "parley" && k > 1 ? await shared.postgres.freshDatabase() : null;
  const env = k > 1 ? { ...shared.env, REDIS_URL: shared.redis.url, ...(database ? { DATABASE_URL: database.url } : {}) } : shared.env;
  const instances: RunningTarget[] = [];
  let nginx: NginxServer | null = null;
  const stop = async () => {
    await nginx?.close();
    await Promise.all(instances.map((i) => i.stop()));
    await database?.drop();
  };
  try {
    for (let i = 0; i < k; i++) instances.push(await startTarget(target, env));
    const first = instances[0] as RunningTarget;
    if (k > 1) {
      const upstreams = instances.map((i) => `127.0.0.1:${i.port}`);
      nginx = target === "parley" ? await startNginx(upstreams) : await startNginx(upstreams, SOCKETIO_NGINX_CONFIG);
    }
    const entryPort = nginx ? Number(new URL(nginx.url).port) : first.port;
    const channel = target === "parley" ? await createParleySession(first.port, `scale-out-${k}`) : `scale-out-${k}`;
    return { entryPort, publishPort: first.port, channel, serverPids: instances.map((i) => i.pid), nginx, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

interface Sample {
  perSecond: number;
  serverUs: number;
  redisUs: number;
  nginxUs: number;
  p50: number;
  p99: number;
}

/** One cluster: throughput, then latency at a fixed rate, on the same subscribers. */
async function measureCluster(target: ScaleOutTarget, k: number, sizes: ScaleOutSizes, shared: { redis: RedisServer; postgres: PostgresServer; env: Record<string, string> }): Promise<Sample> {
  const cluster = await startCluster(target, k, shared);
  try {
    const pool = await SubscriberPool.open({
      target,
      port: cluster.entryPort,
      channel: cluster.channel,
      subscribers: sizes.subscribers,
      workers: Math.min(sizes.workers, sizes.subscribers),
      recordLatency: true,
    });
    const publisher = await openPublisher(target, cluster.publishPort, cluster.channel);
    try {
      const redisPid = k > 1 ? shared.redis.pid() : null;
      const pids = [...cluster.serverPids, ...(redisPid ? [redisPid] : []), ...(cluster.nginx ? [cluster.nginx.pid] : [])];
      const throughput = await measureThroughput(pool, publisher, sizes.fanoutSeconds, pids);
      const each = throughput.cpuUsPerDeliveryEach;
      const serverUs = each.slice(0, k).reduce((a, b) => a + b, 0);
      const redisUs = redisPid ? (each[k] ?? 0) : 0;
      const nginxUs = cluster.nginx ? (each.at(-1) ?? 0) : 0;
      // Drain what the throughput phase left in flight, so latency starts clean.
      await pool.report();
      const latency = await measureLatency(pool, publisher, sizes.latencyRate, sizes.latencySeconds, sizes.latencyWarmupSeconds);
      return { perSecond: throughput.perSecond, serverUs, redisUs, nginxUs, p50: latency.p50, p99: latency.p99 };
    } finally {
      publisher.close();
      await pool.close();
    }
  } finally {
    await cluster.stop();
  }
}

/** The scenario's two parts: clusters (fan-out, latency) and one instance's persisted writes; `--part` picks one. */
export const SCALE_OUT_PARTS = ["clusters", "writes"] as const;
export type ScaleOutPart = (typeof SCALE_OUT_PARTS)[number];

/** Rows of the scale-out scenario (medians over `rounds`; Parley and Socket.IO alternate which goes first). */
export async function scaleOut(opts: { sizes: ScaleOutSizes; rounds: number; env: Record<string, string>; parts?: readonly ScaleOutPart[] }): Promise<ResultRow[]> {
  const { sizes, rounds, parts = SCALE_OUT_PARTS } = opts;
  const redis = await startRedis();
  const postgres = await startPostgres();
  const shared = { redis, postgres, env: opts.env };
  const rows: ResultRow[] = [];
  try {
    const samples = new Map<string, Sample[]>();
    for (let round = 0; round < rounds && parts.includes("clusters"); round++) {
      for (const k of sizes.instances) {
        const order: ScaleOutTarget[] = round % 2 === 0 ? ["parley", "socketio"] : ["socketio", "parley"];
        for (const target of order) {
          const sample = await measureCluster(target, k, sizes, shared);
          const key = `${target} ${k}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          console.error(
            `[scale-out: ${target}, ${k} instance(s): ${Math.round(sample.perSecond)} deliveries/s, server ${sample.serverUs.toFixed(2)} µs/delivery, Redis ${sample.redisUs.toFixed(2)}, nginx ${sample.nginxUs.toFixed(2)}, p99 ${sample.p99.toFixed(1)} ms]`,
          );
        }
      }
    }
    const med = (target: ScaleOutTarget, k: number, pick: (s: Sample) => number) => median((samples.get(`${target} ${k}`) ?? []).map(pick));
    const both = (k: number, pick: (s: Sample) => number) => ({ parley: med("parley", k, pick), socketio: med("socketio", k, pick) });
    for (const k of parts.includes("clusters") ? sizes.instances : []) {
      const scenario = k === 1 ? `scale-out, 1 instance, N=${sizes.subscribers}` : `scale-out, ${k} instances + Redis + nginx, N=${sizes.subscribers}`;
      rows.push({ scenario, metric: "deliveries/s", unit: "msg/s", better: "higher", values: both(k, (s) => s.perSecond) });
      rows.push({ scenario, metric: "server CPU per delivery, all instances", unit: "µs", better: "lower", values: both(k, (s) => s.serverUs) });
      if (k > 1) {
        if (sizes.instances.includes(1)) {
          const growth = (target: ScaleOutTarget) => med(target, k, (s) => s.serverUs) / med(target, 1, (s) => s.serverUs);
          rows.push({ scenario, metric: `server CPU per delivery, ${k} instances / 1 instance (Parley's target ≤ 1.3)`, unit: "×", better: "lower", values: { parley: growth("parley"), socketio: growth("socketio") } });
        }
        rows.push({ scenario, metric: "Redis CPU per delivery", unit: "µs", better: "lower", values: both(k, (s) => s.redisUs) });
        rows.push({ scenario, metric: "nginx CPU per delivery", unit: "µs", better: "lower", values: both(k, (s) => s.nginxUs) });
      }
      rows.push({ scenario, metric: `p50 publish→receive at ${sizes.latencyRate} msg/s`, unit: "ms", better: "lower", values: both(k, (s) => s.p50) });
      rows.push({ scenario, metric: `p99 publish→receive at ${sizes.latencyRate} msg/s`, unit: "ms", better: "lower", values: both(k, (s) => s.p99) });
    }
    if (parts.includes("writes")) rows.push(...(await persistedWrites(sizes, shared, rounds)));
  } finally {
    await postgres.close();
    await redis.close();
  }
  return rows;
}

/** Parley's persisted writes and a resume on one instance, on SQLite and on PostgreSQL, alternating. */
async function persistedWrites(sizes: ScaleOutSizes, shared: { postgres: PostgresServer; env: Record<string, string> }, rounds: number): Promise<ResultRow[]> {
  const results = { sqlite: [] as Awaited<ReturnType<typeof writeThenResume>>[], postgres: [] as Awaited<ReturnType<typeof writeThenResume>>[] };
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? (["sqlite", "postgres"] as const) : (["postgres", "sqlite"] as const)) {
      const database = kind === "postgres" ? await shared.postgres.freshDatabase() : null;
      const target = await startTarget("parley", database ? { ...shared.env, DATABASE_URL: database.url } : shared.env);
      try {
        // The same sequence first, smaller and not counted: a fresh process JIT-compiles on the way.
        await writeThenResume(target.port, "writes warm-up", Math.max(20, Math.floor(sizes.writes / 10)), sizes.writers);
        results[kind].push(await writeThenResume(target.port, "writes", sizes.writes, sizes.writers));
      } finally {
        await target.stop();
        await database?.drop();
      }
    }
  }
  const rows: ResultRow[] = [];
  for (const kind of ["sqlite", "postgres"] as const) {
    const label = kind === "sqlite" ? "SQLite" : "PostgreSQL";
    const runs = results[kind];
    const scenario = `persisted writes, ${sizes.writers} clients, one instance (${label})`;
    rows.push({ scenario, metric: "persisted and delivered, WebSocket", unit: "msg/s", better: "higher", values: { parley: median(runs.map((r) => r.wsPerSecond)) } });
    rows.push({ scenario, metric: "persisted and delivered, HTTP (SDK)", unit: "msg/s", better: "higher", values: { parley: median(runs.map((r) => r.httpPerSecond)) } });
    rows.push({
      scenario: `resume ${2 * Math.floor(sizes.writes / 2)} missed messages (${label})`,
      metric: "time to receive all",
      unit: "ms",
      better: "lower",
      values: { parley: median(runs.map((r) => r.resumeMs)) },
    });
  }
  return rows;
}
