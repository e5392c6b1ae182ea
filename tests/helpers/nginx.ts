// A real nginx for tests, running the README's sample config
// (ops/nginx/parley.conf) unchanged but for its upstream servers and its listen
// address: its own process (`daemon off`, one process, no root needed) on a
// free loopback port, with pid, logs and temp files in a temp dir.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findBinary, freePort } from "./redis";
import { repoRoot } from "./server";

/** `nginx` on PATH or in /usr/sbin (or NGINX), or null when it is not installed. */
export const nginxPath: string | null = findBinary(process.env.NGINX, "nginx");

/**
 * Why nginx tests are skipped; null when they run. With PARLEY_REQUIRE_SERVERS
 * set (.ci/run sets it) they never skip: a missing binary fails them instead.
 */
export const nginxSkipReason =
  nginxPath || process.env.PARLEY_REQUIRE_SERVERS
    ? null
    : "nginx is not installed (apt-get install -y nginx, or nginx-light; .ci/run does it): nginx tests skipped";

export const SAMPLE_CONFIG = path.join(repoRoot, "ops", "nginx", "parley.conf");

export interface NginxServer {
  /** `http://127.0.0.1:<port>`: the balancer's address. */
  url: string;
  /** nginx's process id (one process: master_process off). */
  pid: number;
  /** nginx's error log so far (for failure messages). */
  errorLog: () => string;
  close: () => Promise<void>;
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/**
 * The sample's `server` block and `upstream`, with its example upstream
 * servers replaced by `upstreams` (host:port) and `listen 80` by a loopback port.
 */
export function sampleConfig(upstreams: string[], port: number, file = SAMPLE_CONFIG): string {
  const sample = fs.readFileSync(file, "utf8");
  const serverLine = /^([ \t]*)server 10\.0\.0\.\d+:3000( .*;)$/gm;
  const examples = sample.match(serverLine) ?? [];
  if (examples.length === 0) throw new Error(`${file}: no example upstream 'server 10.0.0.x:3000 ...;' lines to replace`);
  let first = true;
  const withUpstreams = sample.replace(serverLine, (_line, indent: string, rest: string) => {
    if (!first) return "";
    first = false;
    return upstreams.map((u) => `${indent}server ${u}${rest}`).join("\n");
  });
  if (!/^\s*listen 80;$/m.test(withUpstreams)) throw new Error(`${file}: no 'listen 80;' line to replace`);
  return withUpstreams.replace(/^(\s*)listen 80;$/m, `$1listen 127.0.0.1:${port};`);
}

/** nginx running `config` (default: the README's sample), with `upstreams` in its upstream block. */
export async function startNginx(upstreams: string[], config = SAMPLE_CONFIG): Promise<NginxServer> {
  if (!nginxPath) throw new Error("nginx is not installed: apt-get install -y nginx, or nginx-light (.ci/run does it)");
  const binary = nginxPath;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nginx-"));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, "parley.conf"), sampleConfig(upstreams, port, config));
  const errorLogPath = path.join(dir, "error.log");
  // The process-level settings the sample leaves to the host's nginx.conf.
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    [
      "daemon off;",
      "master_process off;", // one process: no worker switching to another user, stops with its pid
      `pid ${path.join(dir, "nginx.pid")};`,
      `error_log ${errorLogPath} warn;`,
      "events { worker_connections 8192; }",
      "http {",
      "  access_log off;",
      ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `  ${k}_temp_path ${path.join(dir, `${k}_temp`)};`),
      `  include ${path.join(dir, "parley.conf")};`,
      "}",
      "",
    ].join("\n"),
  );
  const args = ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", errorLogPath];
  const errorLog = () => (fs.existsSync(errorLogPath) ? fs.readFileSync(errorLogPath, "utf8") : "");

  // Refuse a config nginx itself rejects, with its message.
  const check = spawn(binary, [...args, "-t", "-q"], { stdio: ["ignore", "pipe", "pipe"] });
  let checkOutput = "";
  check.stderr?.on("data", (chunk: Buffer) => (checkOutput += chunk.toString()));
  const checkCode = await new Promise<number | null>((resolve) => check.once("exit", resolve));
  if (checkCode !== 0) throw new Error(`nginx -t rejected the sample config (exit ${checkCode}):\n${checkOutput}${errorLog()}`);

  const proc = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  running.add(proc);
  let output = "";
  proc.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  proc.once("exit", () => running.delete(proc));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited (${proc.exitCode}):\n${output}${errorLog()}`);
    const up = await fetch(`${url}/api/health`).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url}:\n${output}${errorLog()}`);
    await new Promise((r) => setTimeout(r, 25));
  }

  const pid = proc.pid;
  if (pid === undefined) throw new Error("nginx has no pid");
  return {
    url,
    pid,
    errorLog,
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
        proc.kill("SIGTERM"); // fast shutdown: open WebSockets are cut
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
