// Renders throughput and p99 latency against N as an SVG and screenshots it
// to PNG with Debian Chromium (no charting binary to download).
import fs from "node:fs";
import { chromium } from "playwright-core";
import type { ResultRow } from "./run";
import { TARGET_LABELS, TARGETS, type TargetName } from "./targets";

const COLORS: Record<TargetName, string> = { parley: "#4f46e5", wsPrepared: "#0f766e", ws: "#16a34a", socketio: "#ea580c" };

function panel(title: string, points: { n: number; values: ResultRow["values"] }[], x0: number): string {
  const w = 420;
  const h = 260;
  const ns = points.map((p) => p.n);
  const max = Math.max(1, ...points.flatMap((p) => Object.values(p.values).filter((v): v is number => Number.isFinite(v))));
  const sx = (i: number) => x0 + 60 + (ns.length <= 1 ? w / 2 : (i * w) / (ns.length - 1));
  const sy = (v: number) => 40 + h - (v / max) * h;
  let svg = `<text x="${x0 + 60}" y="24" font-size="16" font-weight="600">${title}</text>`;
  svg += `<line x1="${x0 + 60}" y1="${40 + h}" x2="${x0 + 60 + w}" y2="${40 + h}" stroke="#999"/>`;
  svg += `<text x="${x0 + 4}" y="44" font-size="11">${Math.round(max).toLocaleString("en-US")}</text><text x="${x0 + 40}" y="${40 + h}" font-size="11">0</text>`;
  ns.forEach((n, i) => (svg += `<text x="${sx(i) - 12}" y="${60 + h}" font-size="12">N=${n}</text>`));
  for (const key of TARGETS) {
    const coords = points.map((p, i) => [sx(i), sy(p.values[key] ?? 0)] as const);
    svg += `<polyline fill="none" stroke="${COLORS[key]}" stroke-width="2.5" points="${coords.map((c) => c.join(",")).join(" ")}"/>`;
    coords.forEach(([x, y]) => (svg += `<circle cx="${x}" cy="${y}" r="4" fill="${COLORS[key]}"/>`));
  }
  return svg;
}

export async function renderChart(rows: ResultRow[], file: string): Promise<string | null> {
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  if (!fs.existsSync(executablePath)) return null;
  const throughput = rows
    .filter((r) => r.metric === "deliveries/s")
    .map((r) => ({ n: Number(/N=(\d+)/.exec(r.scenario)?.[1] ?? 0), values: r.values }));
  const p99 = rows
    .filter((r) => r.metric.startsWith("p99"))
    .map((r) => ({ n: Number(/N=(\d+)/.exec(r.scenario)?.[1] ?? 0), values: r.values }));
  if (throughput.length === 0 && p99.length === 0) return null;
  const legend = TARGETS.map(
    (k, i) => `<rect x="${60 + i * 140}" y="352" width="14" height="14" fill="${COLORS[k]}"/><text x="${80 + i * 140}" y="364" font-size="13">${TARGET_LABELS[k]}</text>`,
  )
    .join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="1060" height="380" font-family="sans-serif">
    <rect width="100%" height="100%" fill="white"/>
    ${panel("Fan-out deliveries/s vs N (higher is better)", throughput, 0)}
    ${panel("p99 publish→receive ms vs N (lower is better)", p99, 530)}
    ${legend}</svg>`;
  const browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1060, height: 380 } });
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    await page.screenshot({ path: file });
  } finally {
    await browser.close();
  }
  return file;
}
