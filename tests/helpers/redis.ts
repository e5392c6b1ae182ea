// A real redis-server for tests: its own process on a free loopback port, no
// persistence, data dir in a temp dir; stoppable and restartable on the same
// port (to test reconnection). Killed on process exit if a test forgets.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Redis } from "ioredis";

/** `redis-server` on PATH (or REDIS_SERVER), or null when it is not installed. */
export const redisServerPath: string | null = findBinary(process.env.REDIS_SERVER, "redis-server");

/**
 * Why Redis tests are skipped; null when they run. With PARLEY_REQUIRE_SERVERS
 * set (.ci/run sets it) they never skip: a missing binary fails them instead.
 */
export const redisSkipReason =
  redisServerPath || process.env.PARLEY_REQUIRE_SERVERS
    ? null
    : "redis-server is not installed (apt-get install -y redis-server; .ci/run does it): Redis tests skipped";

export function findBinary(explicit: string | undefined, name: string, extraDirs: string[] = []): string | null {
  if (explicit) return fs.existsSync(explicit) ? explicit : null;
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/bin", "/usr/sbin", "/usr/local/bin", ...extraDirs];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** A free loopback TCP port (bound, read, released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  /** The running server's process id (benchmarks read its CPU); null while stopped. */
  pid: () => number | null;
  /** Stop the server (the port stays reserved for `start`). */
  stop: () => Promise<void>;
  /** Start it again on the same port, empty. */
  start: () => Promise<void>;
  /** Stop and remove the temp dir. */
  close: () => Promise<void>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export async function startRedis(): Promise<RedisServer> {
  if (!redisServerPath) throw new Error("redis-server is not installed: apt-get install -y redis-server (.ci/run does it)");
  const binary = redisServerPath;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-redis-"));
  const port = await freePort();
  let child: ChildProcess | undefined;

  async function start() {
    const proc = spawn(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    running.add(proc);
    let output = "";
    proc.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    proc.once("exit", () => running.delete(proc));
    // Ready when it accepts a connection and answers PING.
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}):\n${output}`);
      if (await ping(port)) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${port}:\n${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function stop() {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGKILL"); // an abrupt loss, like a crash: connections are reset
    await exited;
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => child?.pid ?? null,
    stop,
    start,
    async close() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data: Buffer) => done(data.toString().startsWith("+PONG")));
  });
}

/** One connection of a Redis server's CLIENT LIST. */
export interface RedisClientInfo {
  id: string;
  name: string;
  /** Channels it is subscribed to. */
  subscriptions: number;
}

/**
 * What a test does to a Redis server's clients: list them, kill some by name
 * (CLIENT KILL ID), or keep killing them as they reconnect (a connection held
 * down while the others are up). Reconnects by itself across a restart.
 */
export class RedisAdmin {
  private readonly client: Redis;

  constructor(url: string) {
    this.client = new Redis(url, { connectionName: "parley-test-admin", retryStrategy: () => 20, maxRetriesPerRequest: null });
    this.client.on("error", () => undefined); // while Redis is down: retried
  }

  async clients(): Promise<RedisClientInfo[]> {
    const list = String(await this.client.call("CLIENT", "LIST"));
    return list
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => {
        const fields = new Map(line.trim().split(" ").map((pair) => pair.split("=", 2) as [string, string]));
        return { id: fields.get("id") ?? "", name: fields.get("name") ?? "", subscriptions: Number(fields.get("sub") ?? 0) };
      });
  }

  /** Kill every connection named one of `names`; how many were killed. */
  async kill(names: readonly string[]): Promise<number> {
    const doomed = (await this.clients()).filter((c) => names.includes(c.name));
    for (const c of doomed) await this.client.call("CLIENT", "KILL", "ID", c.id).catch(() => undefined);
    return doomed.length;
  }

  /**
   * Keep the connections named `names` down: kill them now and every few
   * milliseconds after, until `release` (which resolves once the loop has stopped).
   */
  hold(names: readonly string[]): { release: () => Promise<void> } {
    let holding = true;
    const loop = (async () => {
      while (holding) {
        await this.kill(names).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 3));
      }
    })();
    return {
      release: async () => {
        holding = false;
        await loop;
      },
    };
  }

  close(): void {
    this.client.disconnect();
  }
}
