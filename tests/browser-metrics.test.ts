// The Metrics page as an operator reads it, on the server as a process with a
// stand-in nvidia-smi (two GPUs): GPU utilisation and memory charts, host CPU
// and memory beside the process's, an error-rate chart that moves when calls
// fail, time-axis labels that do not overlap, legends that show the values
// under the cursor (and the latest ones otherwise, never "--"), and a gap
// where the server was down instead of a sloped line. Dark-theme screenshots
// go to test-results/.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createParleyClient } from "@parley/client";
import { artifactsDir, launchChromium } from "./helpers/browser";
import { freshDatabase, restartableServer, type RestartableServer } from "./helpers/server";

let server: RestartableServer;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let db: { url: string; dir: string };
let gpuDir = "";
const poll = { timeout: 30_000, interval: 100 };

beforeAll(async () => {
  db = freshDatabase();
  gpuDir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-gpu-"));
  fs.writeFileSync(
    path.join(gpuDir, "nvidia-smi"),
    `#!/bin/sh\nprintf '0, NVIDIA Fake A100, 63, 20480, 40960\\n1, NVIDIA Fake L4, 12, 3072, 23034\\n'\n`,
    { mode: 0o755 },
  );
  server = restartableServer({ DATABASE_URL: db.url, LOG_LEVEL: "warn", METRICS_NVIDIA_SMI: path.join(gpuDir, "nvidia-smi") });
  await server.start();
  chromium = await launchChromium();
  fs.mkdirSync(artifactsDir, { recursive: true });
}, 120_000);
afterAll(async () => {
  await chromium?.close();
  await server?.stop();
  fs.rmSync(db.dir, { recursive: true, force: true });
  fs.rmSync(gpuDir, { recursive: true, force: true });
});

const chart = (page: Page, key: string) => page.getByTestId(`chart-${key}`);
/** The legend's cells of one chart: the time first, then one per line. */
const legend = (page: Page, key: string) => chart(page, key).locator(".u-legend .u-series .u-value").allTextContents();
const legendLabels = (page: Page, key: string) => chart(page, key).locator(".u-legend .u-series .u-label").allTextContents();

/** The time labels of a chart's x axis (as drawn) and the room each takes, in px. */
async function timeLabels(page: Page, key: string) {
  return chart(page, key)
    .locator("[data-x-ticks]")
    .evaluate((el) => {
      const ticks = JSON.parse((el as HTMLElement).dataset.xTicks ?? "[]") as { label: string; x: number }[];
      const context = document.createElement("canvas").getContext("2d");
      if (!context) throw new Error("no 2d canvas");
      context.font = "11px system-ui";
      return ticks.map((tick) => ({ ...tick, width: context.measureText(tick.label).width }));
    });
}

describe("the Metrics page", () => {
  it("charts GPUs, host beside process, errors, with readable axes and live legends", async () => {
    const context = await chromium.browser.newContext({ colorScheme: "dark", viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${server.url}/metrics`);
    await expect.poll(() => chart(page, "gpu-utilization").count(), poll).toBe(1);
    await expect.poll(() => legendLabels(page, "gpu-utilization"), poll).toEqual(["Time", "0: NVIDIA Fake A100", "1: NVIDIA Fake L4"]);
    await expect.poll(() => legend(page, "gpu-utilization"), poll).toEqual([expect.stringMatching(/^\d\d:\d\d:\d\d$/), "63%", "12%"]);
    await expect.poll(() => legend(page, "gpu-memory"), poll).toEqual([expect.stringMatching(/^\d\d:\d\d:\d\d$/), "20 GB", "3 GB"]);
    expect(await legendLabels(page, "cpu")).toEqual(["Time", "process", "host"]);
    expect(await legendLabels(page, "host-memory")).toEqual(["Time", "used", "total"]);
    const totalGb = os.totalmem() / 1_073_741_824;
    await expect.poll(async () => Number.parseFloat((await legend(page, "host-memory"))[2] ?? "0"), poll).toBeCloseTo(totalGb, totalGb < 10 ? 1 : -1);

    // Calls that fail show on the error chart.
    const api = createParleyClient({ url: server.url });
    for (let i = 0; i < 20; i++) await api.api.session.get.query({ id: `missing-${i}` }).catch(() => undefined);
    await api.close();
    await expect.poll(async () => Number.parseFloat((await legend(page, "errors"))[1] ?? "0"), poll).toBeGreaterThan(0);

    // Time labels: at least two, each clear of the next.
    await expect.poll(async () => (await timeLabels(page, "connections")).length, poll).toBeGreaterThanOrEqual(2);
    for (const key of ["connections", "cpu", "gpu-utilization"]) {
      const labels = await timeLabels(page, key);
      for (let i = 1; i < labels.length; i++) {
        const [a, b] = [labels[i - 1]!, labels[i]!];
        expect(a.x + a.width / 2 + 4, `${key}: "${a.label}" and "${b.label}" overlap`).toBeLessThanOrEqual(b.x - b.width / 2);
      }
    }

    // Hover: the legend shows the values under the cursor, and keeps them while new windows arrive.
    const over = chart(page, "gpu-utilization").locator(".u-over");
    const box = await over.boundingBox();
    if (!box) throw new Error("no plot area");
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
    await page.waitForTimeout(2_500);
    const hovered = await legend(page, "gpu-utilization");
    expect(hovered[0]).toMatch(/^\d\d:\d\d:\d\d$/);
    expect(hovered.slice(1)).toEqual(["63%", "12%"]);
    await page.screenshot({ path: path.join(artifactsDir, "metrics-dark.png"), fullPage: true });
    // Away from the plot: the latest values, not "--".
    await page.mouse.move(0, 0);
    await expect.poll(() => legend(page, "connections"), poll).toEqual([expect.stringMatching(/^\d\d:\d\d:\d\d$/), expect.stringMatching(/^\d+$/)]);

    // The server goes away for a while and comes back: the lines break there.
    expect(await chart(page, "cpu").locator("[data-gaps]").getAttribute("data-gaps")).toBe("0");
    await server.stop();
    await page.waitForTimeout(3_000);
    await server.start();
    await expect.poll(() => chart(page, "cpu").locator("[data-gaps]").getAttribute("data-gaps"), poll).toBe("1");
    const last = Number(await page.getByTestId("metrics-charts").getAttribute("data-last"));
    await expect.poll(async () => Number(await page.getByTestId("metrics-charts").getAttribute("data-last")), poll).toBeGreaterThan(last + 2_000);
    await page.screenshot({ path: path.join(artifactsDir, "metrics-gap-dark.png"), fullPage: true });
    await context.close();
  }, 150_000);
});
