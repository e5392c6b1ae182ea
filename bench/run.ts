// `npm run bench [-- <scenario>...] [--smoke] [--rounds N]` (and `npm run bench -- memory`, bench/memory.ts)
// Runs Parley's production server and three baselines (plain `ws` prepared,
// the physical limit; plain `ws` as commonly written; Socket.IO 4) in turn,
// alternating their order each round, with load from worker threads on
// loopback; prints a markdown table of medians, writes JSON to bench/results/
// and a PNG chart (throughput and p99 against N).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ensureWebBuild } from "../scripts/web-build";
import { renderChart } from "./chart";
import { SubscriberPool } from "./load/pool";
import { createParleySession, openPublisher } from "./publisher";
import { SCALE_OUT_PARTS, scaleOut, scaleOutMissing, type ScaleOutPart } from "./scale-out";
import { reconnectBurst } from "./reconnect";
import { manyConnections } from "./connections100k";
import { slowConsumer } from "./slow-consumer";
import { writeThenResume } from "./writes";
import { clientCost, sdkWritePath } from "./client";
import { measureLatency, measureThroughput } from "./measure";
import { median } from "./stats";
import { migratedTemplate, PAYLOAD_BYTES, processUsage, root, startTarget, TARGET_LABELS, TARGETS, type RunningTarget, type TargetName } from "./targets";

const SCENARIOS = ["fanout", "latency", "connections", "writes", "resume", "client", "sdk", "slow", "reconnect", "scaleout", "connections100k"] as const;
type Scenario = (typeof SCENARIOS)[number];

const argv = process.argv.slice(2);
// `npm run bench -- memory [--smoke] [--size N]`: recall, store and message.post with memories (bench/memory.ts); only when named, and alone.
if (argv.includes("memory")) {
  await import("./memory");
  process.exit(0);
}
const onlyArg = argv.indexOf("--only");
/** `--only parley`: run one target (for profiling). */
const targets: readonly TargetName[] = onlyArg >= 0 ? TARGETS.filter((t) => t === argv[onlyArg + 1]) : TARGETS;
const nArg = argv.indexOf("--n");
const partArg = argv.indexOf("--part");
/** `scaleout --part writes`: one part of the scale-out scenario (clusters, or persisted writes on PostgreSQL against SQLite). */
const scaleOutParts: readonly ScaleOutPart[] = partArg >= 0 ? SCALE_OUT_PARTS.filter((p) => p === argv[partArg + 1]) : SCALE_OUT_PARTS;
if (scaleOutParts.length === 0) {
  console.error(`unknown --part ${argv[partArg + 1]}; choose from ${SCALE_OUT_PARTS.join(", ")}`);
  process.exit(2);
}
const workersArg = argv.indexOf("--workers");
const smoke = argv.includes("--smoke");
const roundsArg = argv.indexOf("--rounds");
const rounds = roundsArg >= 0 ? Number(argv[roundsArg + 1]) : smoke ? 1 : 3;
/** Options that take a value (the value is not a scenario name: `--part writes`). */
const VALUED = ["--rounds", "--only", "--n", "--workers", "--part"];
const chosen = argv.filter((a, i): a is Scenario => (SCENARIOS as readonly string[]).includes(a) && !VALUED.includes(argv[i - 1] ?? ""));
/**
 * Without names: every scenario, except at full size `slow` (20,000 events at a
 * fixed 200 msg/s, twice per round, three rounds: about twelve minutes; the
 * paused client's backlog passes the kernel's socket buffers, ~10 MB here),
 * `reconnect` (10,000 SDK clients), `scaleout` (it starts Redis,
 * PostgreSQL, nginx and up to three instances of each target) and
 * `connections100k` (100,000 subscribed connections; `--n` for fewer; needs
 * an open-file limit above that); name them to run them. Smoke runs include
 * them.
 */
const NAMED_ONLY: readonly Scenario[] = ["slow", "reconnect", "scaleout", "connections100k"];
const scenarios: Scenario[] = chosen.length > 0 ? chosen : SCENARIOS.filter((s) => !NAMED_ONLY.includes(s) || smoke);
const unknown = argv.filter(
  (a, i) => !a.startsWith("--") && !VALUED.includes(argv[i - 1] ?? "") && !(SCENARIOS as readonly string[]).includes(a),
);
if (unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; choose from ${SCENARIOS.join(", ")}`);
  process.exit(2);
}

const sizes = smoke
  ? { client: { subscribers: 5, rate: 20, seconds: 0.5, warmupSeconds: 0.2 }, sdk: { subscribers: 5, rate: 10, seconds: 0.5, warmupSeconds: 0.2, workers: 1 }, scaleOut: { instances: [1, 2], subscribers: 10, fanoutSeconds: 0.5, latencyRate: 20, latencySeconds: 0.5, latencyWarmupSeconds: 0.2, writes: 60, writers: 4, workers: 1 }, fanoutN: [5, 10], fanoutSeconds: 0.5, latencyN: [5], latencyRate: 20, latencySeconds: 0.5, latencyWarmupSeconds: 0.2, connections: 20, writes: 60, writesWarmup: 20, writers: 4, workers: 1, slow: { subscribers: 5, events: 2_000, rate: 1_000, writers: 2, workers: 1 }, reconnect: { clients: 50, workers: 1 }, manyConnections: { connections: 200, idleSeconds: 1, publishes: 2 } }
  : { client: { subscribers: 100, rate: 50, seconds: 5, warmupSeconds: 2 }, sdk: { subscribers: 150, rate: 10, seconds: 10, warmupSeconds: 2, workers: 2 }, scaleOut: { instances: [1, 2, 3], subscribers: 1000, fanoutSeconds: 5, latencyRate: 50, latencySeconds: 5, latencyWarmupSeconds: 2, writes: 10_000, writers: 20, workers: 4 }, fanoutN: [100, 1000, 5000], fanoutSeconds: 5, latencyN: [100, 1000, 2000], latencyRate: 50, latencySeconds: 5, latencyWarmupSeconds: 2, connections: 10_000, writes: 10_000, writesWarmup: 1_000, writers: 20, workers: 4, slow: { subscribers: 100, events: 20_000, rate: 200, writers: 4, workers: 4 }, reconnect: { clients: 10_000, workers: 4 }, manyConnections: { connections: 100_000, idleSeconds: 60, publishes: 5 } };
/** `--n 1000`: only this fan-out and latency size (and the connections of `connections100k`). */
if (nArg >= 0) {
  sizes.fanoutN = sizes.latencyN = [Number(argv[nArg + 1])];
  sizes.manyConnections.connections = Number(argv[nArg + 1]);
}
/** `--workers 2`: load worker threads per pool. */
if (workersArg >= 0) sizes.workers = Number(argv[workersArg + 1]);

export interface ResultRow {
  scenario: string;
  metric: string;
  unit: string;
  better: "higher" | "lower";
  values: Partial<Record<TargetName, number>>;
}
const rows: ResultRow[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const template = migratedTemplate();
const env = { PARLEY_BENCH_TEMPLATE_DB: template.file };
// Parley runs as `npm start` does: the production build of the current sources.
ensureWebBuild();

/** Each target's median of one figure over its rounds' samples. */
function medians<K extends string>(samples: Map<TargetName, Record<K, number>[]>, key: K): ResultRow["values"] {
  return Object.fromEntries([...samples].map(([name, s]) => [name, median(s.map((x) => x[key]))]));
}

/** Rounds × targets, the order rotated each round; returns each target's samples. */
async function alternate<T>(targets: readonly TargetName[], run: (target: RunningTarget) => Promise<T>) {
  const samples = new Map<TargetName, T[]>();
  for (let round = 0; round < rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length] as TargetName);
    for (const name of order) {
      const target = await startTarget(name, env);
      try {
        const sample = await run(target);
        samples.set(name, [...(samples.get(name) ?? []), sample]);
      } finally {
        await target.stop();
      }
    }
  }
  return samples;
}

async function channelFor(target: RunningTarget, title: string) {
  return target.name === "parley" ? createParleySession(target.port, title) : title;
}

// 1. Fan-out throughput: publish as fast as every subscriber keeps up (bounded in-flight window).
async function fanout() {
  for (const n of sizes.fanoutN) {
    const samples = await alternate(targets, async (target) => {
      const channel = await channelFor(target, `fanout-${n}`);
      const pool = await SubscriberPool.open({ target: target.name, port: target.port, channel, subscribers: n, workers: Math.min(sizes.workers, n), recordLatency: false });
      const publisher = await openPublisher(target.name, target.port, channel);
      const { perSecond, cpuUsPerDelivery } = await measureThroughput(pool, publisher, sizes.fanoutSeconds, [target.pid]);
      const rssMiB = processUsage(target.pid).rssBytes / 2 ** 20;
      publisher.close();
      await pool.close();
      return { perSecond, rssMiB, cpuUsPerDelivery };
    });
    const pick = (key: "perSecond" | "rssMiB" | "cpuUsPerDelivery") => medians(samples, key);
    rows.push({ scenario: `fan-out, N=${n}`, metric: "deliveries/s", unit: "msg/s", better: "higher", values: pick("perSecond") });
    rows.push({ scenario: `fan-out, N=${n}`, metric: "server CPU per delivery", unit: "µs", better: "lower", values: pick("cpuUsPerDelivery") });
    rows.push({ scenario: `fan-out, N=${n}`, metric: "server RSS", unit: "MiB", better: "lower", values: pick("rssMiB") });
  }
}

// 2. Fan-out latency at a fixed rate, at each N (the chart's p99 against N;
// the target is at N=1000). At N=2000 the rate is 100,000 deliveries/s, near
// what raw ws sustains here (fan-out above).
async function latency() {
  for (const n of sizes.latencyN) await latencyAt(n);
}

async function latencyAt(n: number) {
  const samples = await alternate(targets, async (target) => {
    const channel = await channelFor(target, `latency-${n}`);
    const pool = await SubscriberPool.open({ target: target.name, port: target.port, channel, subscribers: n, workers: Math.min(sizes.workers, n), recordLatency: true });
    const publisher = await openPublisher(target.name, target.port, channel);
    const summary = await measureLatency(pool, publisher, sizes.latencyRate, sizes.latencySeconds, sizes.latencyWarmupSeconds);
    publisher.close();
    await pool.close();
    return summary;
  });
  for (const key of ["p50", "p95", "p99", "max"] as const) {
    rows.push({
      scenario: `latency, N=${n} × ${sizes.latencyRate} msg/s`,
      metric: `${key} publish→receive`,
      unit: "ms",
      better: "lower",
      values: medians(samples, key),
    });
  }
}

// 3. Idle connections with one subscription each. RSS is read twice: right
// after the last one subscribed (the heap still holds the garbage of
// connecting, and V8's young generation has grown for it), and after
// IDLE_S seconds with nothing happening, when V8 has given back what an idle
// process does not need (in a 10,000-connection run its RSS falls 20-30 s
// after the last connect). The second is what idle connections cost a
// long-running server. Every target is measured the same way.
const IDLE_S = smoke ? 1 : 60;

async function connections() {
  const n = sizes.connections;
  const samples = await alternate(targets, async (target) => {
    const channel = await channelFor(target, "idle");
    await sleep(200);
    const before = processUsage(target.pid).rssBytes;
    const pool = await SubscriberPool.open({ target: target.name, port: target.port, channel, subscribers: n, workers: sizes.workers, recordLatency: false });
    await sleep(500);
    const connected = processUsage(target.pid).rssBytes;
    await sleep(IDLE_S * 1000);
    const idle = processUsage(target.pid).rssBytes;
    await pool.close();
    const perConnection = (rss: number) => (rss - before) / n / 1024;
    return { connectedKib: perConnection(connected), idleKib: perConnection(idle), connectS: pool.connectMs / 1000 };
  });
  const scenario = `${n} idle subscribed connections`;
  rows.push({ scenario, metric: `server RSS per connection, after ${IDLE_S} s idle`, unit: "KiB", better: "lower", values: medians(samples, "idleKib") });
  rows.push({ scenario, metric: "server RSS per connection, just connected", unit: "KiB", better: "lower", values: medians(samples, "connectedKib") });
  rows.push({ scenario, metric: "time to connect all", unit: "s", better: "lower", values: medians(samples, "connectS") });
}

// 4 + 5. Persisted writes by concurrent clients (delivered to a subscriber),
// over the WebSocket (raw tRPC mutations) and over HTTP (the SDK's batched
// HTTP link); then a resume of everything written. Each fresh server first
// runs the same sequence, smaller and not counted, in another session: the
// first thousand posts through a new process are JIT-compiled on the way,
// and a long-running server has long been past them.
async function writesAndResume(doWrites: boolean, doResume: boolean) {
  const samples = await alternate(["parley"], async (target) => {
    await writeThenResume(target.port, "writes warm-up", sizes.writesWarmup, sizes.writers);
    return writeThenResume(target.port, "writes", sizes.writes, sizes.writers);
  });
  const parley = samples.get("parley") ?? [];
  if (doWrites) {
    const scenario = `persisted writes, ${sizes.writers} clients (SQLite)`;
    rows.push({ scenario, metric: "persisted and delivered, WebSocket", unit: "msg/s", better: "higher", values: { parley: median(parley.map((x) => x.wsPerSecond)) } });
    rows.push({ scenario, metric: "persisted and delivered, HTTP (SDK)", unit: "msg/s", better: "higher", values: { parley: median(parley.map((x) => x.httpPerSecond)) } });
  }
  if (doResume) rows.push({ scenario: `resume ${2 * Math.floor(sizes.writes / 2)} missed messages`, metric: "time to receive all", unit: "ms", better: "lower", values: { parley: median(parley.map((x) => x.resumeMs)) } });
}

function format(value: number | undefined): string {
  if (value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !b) return "–";
  return `${(a / b).toFixed(2)}×`;
}

/** One column per target, then Parley's ratio to each baseline ("ws, prepared": the physical limit; "ws": as commonly written). */
export function markdownTable(result: ResultRow[]): string {
  const baselines = TARGETS.filter((t) => t !== "parley");
  const lines = [
    `| scenario | metric | ${TARGETS.map((t) => TARGET_LABELS[t]).join(" | ")} | ${baselines.map((t) => `Parley/${TARGET_LABELS[t]}`).join(" | ")} |`,
    `|---|---|${TARGETS.map(() => "--:").join("|")}|${baselines.map(() => "--:").join("|")}|`,
  ];
  for (const r of result) {
    const v = r.values;
    const cells = [...TARGETS.map((t) => format(v[t])), ...baselines.map((t) => ratio(v.parley, v[t]))];
    lines.push(`| ${r.scenario} | ${r.metric} (${r.unit}, ${r.better} is better) | ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

const startedAt = new Date();
/** Print each scenario's rows as soon as it ends (a long run shows progress). */
async function step(name: string, run: () => Promise<void>) {
  const before = rows.length;
  const t0 = Date.now();
  await run();
  console.error(`[${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s]\n${markdownTable(rows.slice(before))}\n`);
}
if (scenarios.includes("fanout")) await step("fanout", fanout);
if (scenarios.includes("latency")) await step("latency", latency);
if (scenarios.includes("connections")) await step("connections", connections);
if (scenarios.includes("writes") || scenarios.includes("resume")) {
  await step("writes/resume", () => writesAndResume(scenarios.includes("writes"), scenarios.includes("resume")));
}
if (scenarios.includes("client")) await step("client", async () => void rows.push(...(await clientCost({ sizes: sizes.client, rounds, env }))));
if (scenarios.includes("sdk")) await step("sdk", async () => void rows.push(...(await sdkWritePath({ sizes: sizes.sdk, rounds, env }))));
if (scenarios.includes("scaleout")) {
  const missing = scaleOutMissing();
  if (missing && (chosen.includes("scaleout") || process.env.PARLEY_REQUIRE_SERVERS)) throw new Error(`scaleout: ${missing}`);
  if (missing) console.error(`[scaleout skipped: ${missing}]`);
  else await step("scaleout", async () => void rows.push(...(await scaleOut({ sizes: sizes.scaleOut, rounds, env, parts: scaleOutParts }))));
}
if (scenarios.includes("connections100k")) {
  // Parley against the physical limit (raw `ws`, each frame prepared).
  const against = targets.filter((t) => t === "parley" || t === "wsPrepared");
  await step("connections100k", async () => void rows.push(...(await manyConnections({ sizes: sizes.manyConnections, rounds: smoke ? 1 : Math.min(rounds, 2), targets: against, env }))));
}
if (scenarios.includes("reconnect")) await step("reconnect", async () => void rows.push(...(await reconnectBurst({ sizes: sizes.reconnect, rounds: smoke ? 1 : Math.min(rounds, 2), env }))));
if (scenarios.includes("slow")) await step("slow", async () => void rows.push(...(await slowConsumer({ sizes: sizes.slow, rounds, env, payloadBytes: PAYLOAD_BYTES }))));

const machine = `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? "cpu"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
const table = markdownTable(rows);
console.log(`\nParley benchmark ${smoke ? "(smoke sizes) " : ""}— ${startedAt.toISOString()}, ${rounds} round(s), medians\nMachine: ${machine}\n\n${table}\n`);

const resultsDir = path.join(root, "bench", "results");
fs.mkdirSync(resultsDir, { recursive: true });
// A run of named scenarios keeps its own files, so bench/results/latest.* always holds a whole run.
const name = smoke ? "smoke" : chosen.length > 0 ? `latest-${chosen.join("-")}` : "latest";
fs.writeFileSync(path.join(resultsDir, `${name}.json`), JSON.stringify({ startedAt, machine, rounds, smoke, scenarios, rows }, null, 2));
fs.writeFileSync(path.join(resultsDir, `${name}.md`), `${table}\n`);
const chart = await renderChart(rows, path.join(resultsDir, `${name}.png`));
console.log(chart ? `chart: ${path.relative(root, chart)}` : "chart: skipped (Chromium not found)");
template.remove();
process.exit(0);
