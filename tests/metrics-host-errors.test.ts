// What the metrics collector adds beside the process's figures: the host's CPU
// and memory, and the rate of procedure calls answered with an error (all,
// and internal ones), in raw samples and in metrics.live windows; and how the
// Metrics page turns windows into chart lines (series.ts: a missing stretch of
// time is a gap, not a slope).
import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { alignedData, timeAxisLabels } from "../src/app/metrics/series";
import { aggregateWindow } from "../src/server/metrics/aggregate";
import type { MetricsSample } from "../src/shared/metrics";
import { collect } from "./helpers/ws-client";
import { startTestServer, waitFor, type TestServer } from "./helpers/server";

let t: TestServer | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe("host and error figures", () => {
  it("samples the host's CPU and memory beside the process's", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "100" });
    const server = t;
    await waitFor(() => server.server.deps.metrics.samples().length >= 3, "three samples");
    const sample = await server.client().api.metrics.snapshot.query();
    const host = sample?.host;
    expect(host).toBeDefined();
    expect(host?.cores).toBe(os.cpus().length);
    expect(host?.memoryTotalBytes).toBe(os.totalmem());
    expect(host?.memoryUsedBytes).toBeGreaterThan(sample?.process.rssBytes ?? Infinity);
    expect(host?.memoryUsedBytes).toBeLessThanOrEqual(os.totalmem());
    expect(host?.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(host?.cpuPercent).toBeLessThanOrEqual(os.cpus().length * 100);
  });

  it("counts calls answered with an error per second, internal ones apart, in samples and windows", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "100" });
    const server = t;
    const client = server.client();
    const live = collect<MetricsSample>((h) => client.api.metrics.live.subscribe({ resolutionMs: 1000 }, h));
    await waitFor(() => server.server.deps.metrics.samples().length >= 2, "samples");
    // Ten refusals: NOT_FOUND and BAD_REQUEST (none of them the server's own failure).
    for (let i = 0; i < 5; i++) {
      await client.api.session.get.query({ id: `missing-${i}` }).catch(() => undefined);
      await client.api.session.create.mutate({ title: "   " }).catch(() => undefined);
    }
    // Rates times each sample's span add up to about the ten calls (a rate is over the time the tick really took, the span is on the sampling grid).
    const counted = () => server.server.deps.metrics.samples().reduce((n, s) => n + ((s.hub.errorsPerSec ?? 0) * s.windowMs) / 1000, 0);
    await waitFor(() => counted() > 7, "ten errors counted");
    await new Promise((r) => setTimeout(r, 300));
    expect(counted()).toBeGreaterThan(7);
    expect(counted()).toBeLessThan(13);
    expect(server.server.deps.metrics.samples().every((s) => s.hub.internalErrorsPerSec === 0)).toBe(true);
    await waitFor(() => live.items.some((w) => (w.hub.errorsPerSec ?? 0) > 0), "a window with errors", 5_000);
    const window = live.items.find((w) => (w.hub.errorsPerSec ?? 0) > 0);
    expect(window?.host?.cores).toBe(os.cpus().length);
    live.unsubscribe();
  });

  it("folds samples from instances without these figures: nothing is made up", async () => {
    t = await startTestServer({ METRICS_SAMPLE_MS: "100" });
    const server = t;
    await waitFor(() => server.server.deps.metrics.samples().length >= 2, "two samples");
    const [first, second] = server.server.deps.metrics.samples() as [MetricsSample, MetricsSample];
    // As an instance that predates them would send it: no host, no error rates.
    const older = (sample: MetricsSample): MetricsSample => {
      const { host: _host, ...rest } = sample;
      const { errorsPerSec: _errors, internalErrorsPerSec: _internal, ...hub } = sample.hub;
      return { ...rest, hub };
    };
    const old = aggregateWindow(first.t, 2 * first.windowMs, [older(first), older(second)]);
    expect(old.host).toBeUndefined();
    expect(old.hub.errorsPerSec).toBeUndefined();
    // A newer sample beside an older one: its rate over its own time, its host as it was.
    const newer = { ...second, host: { cpuPercent: 50, cores: 2, memoryUsedBytes: 5, memoryTotalBytes: 10 }, hub: { ...second.hub, errorsPerSec: 4, internalErrorsPerSec: 1 } };
    const mixed = aggregateWindow(first.t, 2 * first.windowMs, [older(first), newer]);
    expect(mixed.host).toEqual(newer.host);
    expect(mixed.hub.errorsPerSec).toBe(4);
    expect(mixed.hub.internalErrorsPerSec).toBe(1);
  });
});

describe("chart lines", () => {
  const window = (t: number, value: number | null): MetricsSample => ({ t, windowMs: 1000, value }) as unknown as MetricsSample;
  const value = { get: (w: MetricsSample) => (w as unknown as { value: number | null }).value };

  it("break where time is missing and where a figure was not measured, instead of sloping across", () => {
    const { data, gaps } = alignedData([window(10_000, 1), window(11_000, 2), window(30_000, 3), window(31_000, null), window(32_000, 5)], [value]);
    expect(gaps).toBe(1);
    expect(data[0]).toEqual([10, 11, 12, 30, 31, 32]);
    expect(data[1]).toEqual([1, 2, null, 3, null, 5]);
    // One window left out (a tick that ran late folded it into the one before) is not a gap.
    expect(alignedData([window(10_000, 1), window(12_000, 2)], [value]).gaps).toBe(0);
    // Minute windows: a gap is more than two of them missing.
    const minute = (t: number): MetricsSample => ({ t, windowMs: 60_000, value: 1 }) as unknown as MetricsSample;
    expect(alignedData([minute(0), minute(120_000)], [value]).gaps).toBe(0);
    expect(alignedData([minute(0), minute(240_000)], [value]).gaps).toBe(1);
  });

  it("label the time axis with one line each, seconds only while ticks are under a minute apart", () => {
    const at = new Date(2026, 11, 6, 14, 5, 9).getTime() / 1000;
    expect(timeAxisLabels([at, at + 10], 10)).toEqual(["14:05:09", "14:05:19"]);
    expect(timeAxisLabels([at, at + 300], 300)).toEqual(["14:05", "14:10"]);
  });
});
