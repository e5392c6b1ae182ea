// metrics.live / metrics.snapshot and GET /api/metrics.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Prisma } from "../src/generated/prisma/client";
import { WindowFolder } from "../src/server/metrics/aggregate";
import type { MetricsSample } from "../src/shared/metrics";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";
import { collect } from "./helpers/ws-client";

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("metrics.live", () => {
  it("replays the history at the chosen resolution, then streams, and the figures move under load", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "250" });
    const server = t;
    await waitFor(() => server.server.deps.metrics.samples().length >= 10, "2.5 s of history", 10_000);

    const watcher = server.client();
    const live = collect<MetricsSample>((h) => watcher.api.metrics.live.subscribe({ resolutionMs: 1000 }, h));
    // Replay: the complete 1 s windows of the history arrive at once.
    await waitFor(() => live.items.length >= 2, "replayed windows", 2_000);
    const replayed = live.items.length;
    for (const [i, w] of live.items.entries()) {
      expect(w.windowMs).toBe(1000);
      expect(w.t % 1000).toBe(0);
      expect(live.ids[i]).toBe(String(w.t));
      if (i > 0) expect(w.t).toBeGreaterThan(live.items[i - 1]!.t);
    }
    expect(live.items.some((w) => w.samples === 4)).toBe(true);

    // Load: five more subscribed connections and a stream of posted messages.
    const session = await watcher.api.session.create.mutate({ title: "load" });
    const loaders = Array.from({ length: 5 }, () => server.client());
    const subs = loaders.map((c) => collect((h) => c.api.session.events.subscribe({ sessionId: session.id }, h)));
    await waitFor(() => server.server.deps.connections.list().length >= 6, "six connections");
    for (let i = 0; i < 40; i++) await watcher.api.message.post.mutate({ sessionId: session.id, content: `m${i}` });
    await waitFor(() => subs.every((s) => s.items.length === 40), "deliveries");

    await waitFor(
      () =>
        live.items.some(
          (w) =>
            w.hub.connections >= 6 &&
            (w.hub.subscriptions["session.events"] ?? 0) >= 5 &&
            w.hub.messagesOutPerSec > 10 &&
            w.hub.fanoutDeliveries >= 40 &&
            w.hub.fanoutP99Ms !== null,
        ),
      "a window showing the load",
      5_000,
    );
    expect(live.items.length).toBeGreaterThan(replayed); // streamed after the replay
    const ids = live.items.map((w) => w.t);
    expect(new Set(ids).size).toBe(ids.length);
    expect(live.errors).toEqual([]);
    const last = live.items.at(-1)!;
    expect(last.process.rssBytes).toBeGreaterThan(0);
    expect(last.process.heapUsedBytes).toBeGreaterThan(0);
    expect(last.hub.dbPingMs).not.toBeNull();
    expect(last.gpu).toBeNull(); // no nvidia-smi on this machine: absent, no error
  });

  it("resumes after lastEventId and aggregates 5 s windows (max for gauges, rates for counters)", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "1000" });
    const server = t;
    const collector = server.server.deps.metrics;
    // Drive ticks by hand for a deterministic history: 12 samples.
    collector.close();
    for (let i = 0; i < 12; i++) collector.tick();
    const history = collector.samples();
    const client = server.client();
    const five = collect<MetricsSample>((h) => client.api.metrics.live.subscribe({ resolutionMs: 5000 }, h));
    const expected = new Set(history.map((s) => Math.floor(s.t / 5000) * 5000));
    // All complete windows of the history (the last may still be open).
    await waitFor(() => five.items.length >= expected.size - 1, "5 s windows");
    for (const w of five.items) {
      const inside = history.filter((s) => s.t >= w.t && s.t < w.t + 5000);
      expect(w.samples).toBe(inside.length);
      expect(w.process.rssBytes).toBe(Math.max(...inside.map((s) => s.process.rssBytes)));
    }
    const first = five.items[0]!;
    const resumed = collect<MetricsSample>((h) =>
      client.api.metrics.live.subscribe({ resolutionMs: 5000, lastEventId: String(first.t) }, h),
    );
    await waitFor(() => resumed.items.length === five.items.length - 1, "resumed windows");
    expect(resumed.items[0]!.t).toBe(first.t + 5000);
  });

  it("times only live windows as fan-out deliveries: a replayed history adds nothing to the fan-out latency", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "1000" });
    const server = t;
    const { metrics: collector, stats } = server.server.deps;
    // An idle server with 12 samples of history, driven by hand.
    collector.close();
    for (let i = 0; i < 12; i++) collector.tick();
    const before = stats.fanout.count;
    const client = server.client();
    const live = collect<MetricsSample>((h) => client.api.metrics.live.subscribe({ resolutionMs: 1000 }, h));
    await waitFor(() => live.items.length >= 11, "the replayed windows");
    await new Promise((r) => setTimeout(r, 50));
    // Replayed, not delivered: no fan-out latency (it would be the age of the history).
    expect(stats.fanout.count).toBe(before);
    const scrape = await (await fetch(`${server.url}/api/metrics`)).text();
    expect(scrape).toMatch(/^parley_fanout_latency_seconds_count\{[^}]*\} 0$/m);
    const next = collector.tick();
    expect(next.hub.fanoutDeliveries).toBe(0);
    expect(next.hub.fanoutP99Ms).toBeNull();
    // The window made from that live sample is a delivery, and is timed.
    await waitFor(() => live.items.some((w) => w.t === next.t), "the live window");
    expect(stats.fanout.count).toBe(before + 1);
  });

  it("folds the history into 10 s and 60 s windows: gauges the max, counters a rate over the window, counts summed", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "1000" });
    const server = t;
    const collector = server.server.deps.metrics;
    const client = server.client();
    // 130 samples by hand (130 s of sample time), typed events published before
    // some of them, so the samples' rates differ: a window's rate is then
    // neither its busiest sample's rate nor the sum of its samples' rates.
    collector.close();
    for (let i = 0; i < 130; i++) {
      if (i % 7 < 2) await client.api.events.publish.mutate({ type: "system.info", data: { message: `before sample ${i}` } });
      collector.tick();
    }
    const history = collector.samples();
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

    for (const resolutionMs of [10_000, 60_000] as const) {
      const live = collect<MetricsSample>((h) => client.api.metrics.live.subscribe({ resolutionMs }, h));
      // Every window of the history that is closed: the last one only when its last sample
      // reaches its end (otherwise a later sample closes it), as WindowFolder closes them.
      const folder = new WindowFolder(resolutionMs);
      const closed = history.flatMap((s) => folder.push(s)).length;
      await waitFor(() => live.items.length === closed, `${resolutionMs} ms windows`);
      let mixed = 0;
      for (const [i, w] of live.items.entries()) {
        const inside = history.filter((s) => s.t >= w.t && s.t < w.t + resolutionMs);
        expect(live.ids[i]).toBe(String(w.t));
        expect(w.windowMs).toBe(resolutionMs);
        expect(w.t % resolutionMs).toBe(0);
        expect(w.samples).toBe(inside.length);
        // Gauges: the maximum.
        expect(w.process.rssBytes).toBe(Math.max(...inside.map((s) => s.process.rssBytes)));
        expect(w.hub.connections).toBe(Math.max(...inside.map((s) => s.hub.connections)));
        // Counters: what the samples counted, over the time they cover.
        const seconds = sum(inside.map((s) => s.windowMs)) / 1000;
        const published = sum(inside.map((s) => (s.hub.eventsPublishedPerSec * s.windowMs) / 1000));
        expect(w.hub.eventsPublishedPerSec).toBeCloseTo(published / seconds, 2);
        // Counts: summed.
        expect(w.hub.dbQueries).toBe(sum(inside.map((s) => s.hub.dbQueries)));
        expect(w.process.gcPauseMs).toBeCloseTo(sum(inside.map((s) => s.process.gcPauseMs)), 2);
        const rates = inside.map((s) => s.hub.eventsPublishedPerSec);
        if (Math.min(...rates) < Math.max(...rates)) {
          mixed++;
          expect(w.hub.eventsPublishedPerSec).toBeLessThan(Math.max(...rates));
        }
      }
      expect(mixed).toBeGreaterThan(0);
      expect(live.items.some((w) => w.samples === resolutionMs / 1000)).toBe(true); // a full window
      live.unsubscribe();
    }
  });

  it("aggregates a counter as a rate: 10 msg/s for 30 s, then nothing for 30 s, is 5 msg/s over the minute", () => {
    const start = 1_800_000_000_000 - (1_800_000_000_000 % 60_000);
    const sample = (i: number): MetricsSample => ({
      instance: "a",
      t: start + i * 1000,
      windowMs: 1000,
      samples: 1,
      process: { cpuPercent: i < 30 ? 80 : 20, rssBytes: 100 + i, heapUsedBytes: 50, eventLoopDelayP50Ms: 1, eventLoopDelayP99Ms: i === 10 ? 40 : 2, gcPauseMs: 0.5 },
      hub: {
        connections: i === 45 ? 9 : 3,
        subscriptions: { "session.events": 2 },
        messagesInPerSec: 0,
        messagesOutPerSec: i < 30 ? 10 : 0,
        bytesOutPerSec: i < 30 ? 2_000 : 0,
        fanoutP50Ms: null,
        fanoutP99Ms: null,
        fanoutDeliveries: 0,
        activeChatRuns: 0,
        chatTtftMs: null,
        chatTokensPerSecond: null,
        dbPingMs: 0.2,
        dbQueryMeanMs: i < 30 ? 1 : 3,
        dbQueries: i < 30 ? 4 : 2,
        presenceMembers: 0,
        eventsPublishedPerSec: 0,
      },
      gpu: null,
    });
    const folder = new WindowFolder(60_000);
    const windows = Array.from({ length: 60 }, (_, i) => folder.push(sample(i))).flat();
    expect(windows).toHaveLength(1);
    const [minute] = windows as [MetricsSample];
    expect(minute).toMatchObject({ t: start, windowMs: 60_000, samples: 60 });
    expect(minute.hub.messagesOutPerSec).toBe(5);
    expect(minute.hub.bytesOutPerSec).toBe(1_000);
    expect(minute.process.cpuPercent).toBe(50);
    expect(minute.hub.connections).toBe(9);
    expect(minute.process.rssBytes).toBe(159);
    expect(minute.process.eventLoopDelayP99Ms).toBe(40);
    expect(minute.process.gcPauseMs).toBe(30);
    expect(minute.hub.dbQueries).toBe(180);
    // The mean query time is weighted by queries: (120 × 1 + 60 × 3) / 180.
    expect(minute.hub.dbQueryMeanMs).toBeCloseTo(5 / 3, 3);
  });

  it("metrics.snapshot returns the latest sample", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "100" });
    const server = t;
    await waitFor(() => server.server.deps.metrics.snapshot() !== null, "first sample");
    const snap = await server.client().api.metrics.snapshot.query();
    expect(snap).not.toBeNull();
    // One sampling interval (two if a tick was late).
    expect(snap!.windowMs % 100).toBe(0);
    expect(snap!.process.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(snap!.hub.activeChatRuns).toBe(0); // no chat run registered in this test
  });
});

// A strict parser for the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): every line
// is a HELP, a TYPE or a sample; names and label names must be valid; label
// values are quoted with \\, \" and \n escapes; values are Go floats; a
// TYPE comes before its samples and at most once. Throws on anything else.
interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}
function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
  const familyOf = (sample: string) => {
    for (const suffix of ["_bucket", "_sum", "_count", ""]) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const base = suffix ? sample.slice(0, -suffix.length) : sample;
      const f = families.get(base);
      if (f && (suffix === "" || f.type === "histogram" || f.type === "summary")) return f;
    }
    throw new Error(`sample ${sample} has no TYPE line before it`);
  };
  const parseValue = (v: string) => {
    if (v === "+Inf") return Infinity;
    if (v === "-Inf") return -Infinity;
    if (v === "NaN") return NaN;
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) throw new Error(`bad value ${v}`);
    return Number(v);
  };
  text.split("\n").forEach((line, n) => {
    const where = `line ${n + 1}: ${line}`;
    if (line === "") return;
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) return; // other comments are allowed
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name: ${where}`);
      const f = families.get(name) ?? { name, type: "untyped", help: "", samples: [] };
      if (kind === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(rest)) throw new Error(`bad type: ${where}`);
        if (f.samples.length > 0 || f.type !== "untyped") throw new Error(`TYPE after samples or twice: ${where}`);
        f.type = rest;
      } else f.help = rest;
      families.set(name, f);
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample: ${where}`);
    const [, name, , body = "", value] = m as unknown as [string, string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    let rest = body;
    while (rest.length > 0) {
      const lm = /^([^=]+)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/.exec(rest);
      if (!lm) throw new Error(`bad labels: ${where}`);
      const [all, lname, raw] = lm as unknown as [string, string, string];
      if (!LABEL.test(lname)) throw new Error(`bad label name ${lname}: ${where}`);
      if (lname in labels) throw new Error(`duplicate label ${lname}: ${where}`);
      labels[lname] = raw.replace(/\\(\\|"|n)/g, (_s, c: string) => (c === "n" ? "\n" : c));
      rest = rest.slice(all.length);
    }
    familyOf(name).samples.push({ name, labels, value: parseValue(value) });
  });
  return families;
}

describe("GET /api/metrics", () => {
  it("serves Prometheus text with the documented parley_* names and an instance label", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "100", PARLEY_INSTANCE: "test-node:1" });
    const server = t;
    const client = server.client();
    const session = await client.api.session.create.mutate({ title: "scrape" });
    const sub = collect((h) => client.api.session.events.subscribe({ sessionId: session.id }, h));
    await waitFor(() => server.server.deps.connections.list().length === 1, "a connection");
    // The first may be delivered by the back-fill; the second is surely live (fanned out).
    await client.api.message.post.mutate({ sessionId: session.id, content: "hello" });
    await waitFor(() => sub.items.length === 1, "delivery");
    await client.api.message.post.mutate({ sessionId: session.id, content: "again" });
    await waitFor(() => sub.items.length === 2, "live delivery");
    await client.api.events.publish.mutate({ type: "system.info", data: { message: "hi" } });
    await waitFor(() => (server.server.deps.metrics.snapshot()?.hub.connections ?? 0) === 1, "a sample");

    const res = await fetch(`${server.url}/api/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const families = parsePrometheusText(await res.text());
    const documented = {
      parley_info: "gauge",
      parley_process_cpu_percent: "gauge",
      parley_process_resident_memory_bytes: "gauge",
      parley_process_heap_used_bytes: "gauge",
      parley_event_loop_delay_seconds: "gauge",
      parley_gc_pause_seconds_total: "counter",
      parley_ws_connections: "gauge",
      parley_subscriptions: "gauge",
      parley_ws_messages_received_total: "counter",
      parley_ws_messages_sent_total: "counter",
      parley_ws_bytes_sent_total: "counter",
      parley_bus_publishes_total: "counter",
      parley_bus_publish_failures_total: "counter",
      parley_session_rereads_total: "counter",
      parley_session_reread_events_total: "counter",
      parley_ws_held_frames_total: "counter",
      parley_ws_held_bytes_total: "counter",
      parley_events_published_total: "counter",
      parley_fanout_latency_seconds: "histogram",
      parley_chat_active_runs: "gauge",
      parley_chat_ttft_seconds: "histogram",
      parley_chat_tokens_per_second: "gauge",
      parley_db_query_duration_seconds: "histogram",
      parley_presence_members: "gauge",
      parley_gpu_utilization_percent: "gauge",
      parley_gpu_memory_used_bytes: "gauge",
      parley_gpu_memory_total_bytes: "gauge",
    };
    for (const [name, type] of Object.entries(documented)) {
      expect(families.get(name)?.type, name).toBe(type);
      for (const s of families.get(name)!.samples) expect(s.labels.instance).toBe("test-node:1");
    }
    const value = (name: string, labels: Record<string, string> = {}) =>
      families
        .get(name.replace(/_(bucket|sum|count)$/, ""))!
        .samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value("parley_ws_connections")).toBe(1);
    expect(value("parley_subscriptions", { procedure: "session.events" })).toBe(1);
    expect(value("parley_ws_messages_sent_total")).toBeGreaterThan(0);
    expect(value("parley_events_published_total")).toBe(1);
    expect(value("parley_fanout_latency_seconds_count")).toBeGreaterThanOrEqual(1);
    expect(value("parley_fanout_latency_seconds_bucket", { le: "+Inf" })).toBe(value("parley_fanout_latency_seconds_count"));
    expect(value("parley_db_query_duration_seconds_count", { operation: "ping" })).toBeGreaterThan(0);
    // Histogram buckets are cumulative.
    const buckets = families.get("parley_fanout_latency_seconds")!.samples.filter((s) => s.name.endsWith("_bucket"));
    for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
    // No GPU tooling here: the GPU families exist but have no samples.
    expect(families.get("parley_gpu_utilization_percent")!.samples).toEqual([]);

    // The committed Grafana dashboard uses only names the server serves.
    const dashboard = fs.readFileSync(path.join(import.meta.dirname, "..", "ops", "grafana", "parley-dashboard.json"), "utf8");
    const used = new Set([...dashboard.matchAll(/parley_[a-z_]+/g)].map((m) => m[0].replace(/_bucket$/, "")));
    for (const name of used) expect(Object.keys(documented), name).toContain(name);
  });

  it("times every database statement, labelled by model and verb: a message.post shows up in parley_db_query_duration_seconds", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "100" });
    const server = t;
    const client = server.client();
    const session = await client.api.session.create.mutate({ title: "timed" });
    const scrape = async () => {
      const db = parsePrometheusText(await (await fetch(`${server.url}/api/metrics`)).text()).get("parley_db_query_duration_seconds")!;
      const count = (operation: string) => db.samples.find((s) => s.name.endsWith("_count") && s.labels.operation === operation)?.value ?? 0;
      return { db, count };
    };
    const before = await scrape();
    for (let i = 0; i < 3; i++) await client.api.message.post.mutate({ sessionId: session.id, content: `timed ${i}` });
    const after = await scrape();

    // One sequential post is one batch: the session's counters, the message, its event.
    for (const operation of ["Session.update", "Message.insert", "SessionEvent.insert"]) {
      expect(after.count(operation) - before.count(operation), operation).toBeGreaterThanOrEqual(3);
    }
    expect(after.count("Session.insert")).toBeGreaterThanOrEqual(1);
    expect(after.count("ping")).toBeGreaterThan(0);
    // A bounded set of labels: <Model>.<verb>, ping, transaction, raw.
    const models = Object.values(Prisma.ModelName) as string[];
    for (const sample of after.db.samples) {
      const operation = sample.labels.operation ?? "";
      const [model, verb] = operation.split(".");
      if (verb === undefined) expect(["ping", "transaction", "raw"]).toContain(operation);
      else expect(models.includes(model ?? "") && ["select", "insert", "update", "delete"].includes(verb), operation).toBe(true);
    }
    // The sample carries the same statements: counted, with a mean time.
    await waitFor(() => server.server.deps.metrics.samples().some((s) => s.hub.dbQueries > 0 && s.hub.dbQueryMeanMs !== null), "a sample with queries");
  });
});

describe("GPU figures", () => {
  it("reads a present nvidia-smi into the samples, metrics.live (max over a window) and /api/metrics", async () => {
    // A stand-in for nvidia-smi: records its arguments, prints two GPUs (and a line to skip) in the format asked for.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-gpu-"));
    const script = path.join(dir, "nvidia-smi");
    fs.writeFileSync(path.join(dir, "util"), "37");
    fs.writeFileSync(
      script,
      `#!/bin/sh\necho "$@" > "${dir}/args"\nprintf '0, NVIDIA Fake A100, %s, 1024, 40960\\n1, NVIDIA Fake L4, 5, 512, 23034\\nNo devices were found\\n' "$(cat "${dir}/util")"\n`,
      { mode: 0o755 },
    );
    t = await startTestServer({ METRICS_SAMPLE_MS: "100", METRICS_NVIDIA_SMI: script, PARLEY_INSTANCE: "gpu-node" });
    const server = t;
    const MiB = 1024 * 1024;
    const a100 = { index: 0, name: "NVIDIA Fake A100", utilizationPercent: 37, memoryUsedBytes: 1024 * MiB, memoryTotalBytes: 40960 * MiB };
    const l4 = { index: 1, name: "NVIDIA Fake L4", utilizationPercent: 5, memoryUsedBytes: 512 * MiB, memoryTotalBytes: 23034 * MiB };
    const client = server.client();
    await waitFor(() => server.server.deps.metrics.snapshot()?.gpu != null, "a sample with GPU figures");
    expect((await client.api.metrics.snapshot.query())?.gpu).toEqual([a100, l4]);
    expect(fs.readFileSync(path.join(dir, "args"), "utf8").trim()).toBe(
      "--query-gpu=index,name,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits",
    );

    // A busier moment: the 1 s windows of metrics.live report the highest utilisation in them.
    fs.writeFileSync(path.join(dir, "util"), "91");
    await waitFor(() => server.server.deps.metrics.snapshot()?.gpu?.[0]?.utilizationPercent === 91, "the new reading");
    const live = collect<MetricsSample>((h) => client.api.metrics.live.subscribe({ resolutionMs: 1000 }, h));
    await waitFor(() => live.items.some((w) => w.gpu?.[0]?.utilizationPercent === 91), "a window with the busy reading", 5_000);
    const busy = live.items.find((w) => w.gpu?.[0]?.utilizationPercent === 91)!;
    expect(busy.gpu).toEqual([{ ...a100, utilizationPercent: 91 }, l4]);
    live.unsubscribe();

    const families = parsePrometheusText(await (await fetch(`${server.url}/api/metrics`)).text());
    const series = (name: string) =>
      families.get(name)!.samples.map((s) => ({ labels: s.labels, value: s.value })).sort((x, y) => x.labels.gpu!.localeCompare(y.labels.gpu!));
    expect(series("parley_gpu_utilization_percent")).toEqual([
      { labels: { gpu: "0", name: "NVIDIA Fake A100", instance: "gpu-node" }, value: 91 },
      { labels: { gpu: "1", name: "NVIDIA Fake L4", instance: "gpu-node" }, value: 5 },
    ]);
    expect(series("parley_gpu_memory_used_bytes").map((s) => s.value)).toEqual([1024 * MiB, 512 * MiB]);
    expect(series("parley_gpu_memory_total_bytes").map((s) => s.value)).toEqual([40960 * MiB, 23034 * MiB]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
