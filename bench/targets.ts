// The three servers a benchmark compares, and how a load client speaks to
// each: subscribe to a channel, publish a payload, recognise a delivery.
// Load clients speak the wire protocols directly (no client libraries on the
// hot path except socket.io-client, which is the protocol).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const TARGETS = ["parley", "wsPrepared", "ws", "socketio"] as const;
export type TargetName = (typeof TARGETS)[number];

/** How tables and charts name each target. */
export const TARGET_LABELS: Record<TargetName, string> = { parley: "Parley", wsPrepared: "ws, prepared", ws: "ws", socketio: "Socket.IO" };

/** The baseline servers' entry files (bench/baselines/). With REDIS_URL in its env, Socket.IO runs with the Redis adapter. */
const BASELINES: Record<Exclude<TargetName, "parley">, string> = {
  wsPrepared: "ws-prepared-server.ts",
  ws: "ws-server.ts",
  socketio: "socketio-server.ts",
};

/** Targets that speak the plain-ws protocol (`{"sub"}` / `{"pub","data"}`). */
export const speaksPlainWs = (target: TargetName): boolean => target === "ws" || target === "wsPrepared";

export const root = path.resolve(import.meta.dirname, "..");

/**
 * Parley as benchmarked: production mode on loopback, authentication off (the
 * baselines have none), and the per-address / per-principal limits lifted,
 * because every load client comes from 127.0.0.1 as one principal.
 */
export const PARLEY_BENCH_ENV = {
  PARLEY_AUTH: "off",
  MAX_CONNECTIONS_PER_ADDRESS: "100000",
  MAX_CONNECTIONS_PER_PRINCIPAL: "100000",
  RATE_LIMIT_PER_CONNECTION: "1000000",
  RATE_LIMIT_PER_PRINCIPAL: "1000000",
  RATE_LIMIT_BURST: "1000000",
} as const;

export interface RunningTarget {
  name: TargetName;
  port: number;
  pid: number;
  child: ChildProcess;
  /** Parley only: the database directory. */
  dataDir?: string;
  stop: () => Promise<void>;
}

/** Start one server as its own Node process (no tsx wrapper process, so pid is the server). */
export async function startTarget(name: TargetName, env: Record<string, string> = {}): Promise<RunningTarget> {
  let args: string[];
  let dataDir: string | undefined;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, NODE_ENV: "production" };
  if (name === "parley") {
    // A DATABASE_URL in `env` (PostgreSQL, shared by instances) is used as it is; otherwise a copy of the SQLite template.
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-bench-"));
      const template = env.PARLEY_BENCH_TEMPLATE_DB;
      if (!template) throw new Error("PARLEY_BENCH_TEMPLATE_DB is required to start parley");
      fs.copyFileSync(template, path.join(dataDir, "parley.db"));
      databaseUrl = `file:${path.join(dataDir, "parley.db")}`;
    }
    // PORT in `env`: a restart on the port clients know (the reconnect scenario).
    Object.assign(childEnv, PARLEY_BENCH_ENV, { PORT: env.PORT ?? "0", DATABASE_URL: databaseUrl, LOG_LEVEL: "warn" });
    args = ["--import", "tsx", "server.ts"];
  } else {
    args = ["--import", "tsx", `bench/baselines/${BASELINES[name]}`];
  }
  // PARLEY_BENCH_CPU_PROF=<dir>: write a V8 CPU profile of each server (open it in Chrome DevTools).
  if (process.env.PARLEY_BENCH_CPU_PROF) args.unshift("--cpu-prof", `--cpu-prof-dir=${process.env.PARLEY_BENCH_CPU_PROF}`);
  const child = spawn(process.execPath, args, { cwd: root, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /LISTENING (\d+)|is running at http:\/\/[^:]+:(\d+)/.exec(output);
      const found = match?.[1] ?? match?.[2];
      if (found) {
        clearTimeout(timer);
        resolve(Number(found));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${output}`));
    });
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} has no pid`);
  return {
    name,
    port,
    pid,
    child,
    dataDir,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 6_000);
        await exited;
        clearTimeout(timer);
      }
      if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** CPU time (user+system, ms) and RSS (bytes) of a process, from /proc. */
export function processUsage(pid: number): { cpuMs: number; rssBytes: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuMs: (ticks * 1000) / 100, rssBytes: rssKb * 1024 };
}

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export const nowMs = () => performance.timeOrigin + performance.now();

/** The size of every published payload, in bytes. */
export const PAYLOAD_BYTES = 200;

/** A payload of `size` bytes that starts with its publish time: `T<ms>|xxxx…`. */
export function payload(size: number): string {
  const head = `T${nowMs().toFixed(3)}|`;
  return head + "x".repeat(Math.max(0, size - head.length));
}

const STAMP = /T(\d+\.\d+)\|/;
/** The publish time inside a delivered frame, or null if the frame is not a delivery. */
export function publishTime(frame: string): number | null {
  const match = STAMP.exec(frame);
  return match?.[1] ? Number(match[1]) : null;
}

/** A migrated SQLite database in a temporary directory (Parley targets copy it), and how to remove it. */
export function migratedTemplate(): { file: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-bench-template-"));
  const file = path.join(dir, "template.db");
  const migrated = spawnSync(path.join(root, "node_modules", ".bin", "prisma"), ["migrate", "deploy"], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: `file:${file}` },
    encoding: "utf8",
  });
  if (migrated.status !== 0) throw new Error(`prisma migrate deploy failed:\n${migrated.stdout}\n${migrated.stderr}`);
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
