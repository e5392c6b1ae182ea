"use client";
// One uPlot time-series chart. uPlot is loaded in the browser only; new data
// goes through setData (no re-creation), the width follows the card. Lines
// break where data is missing (series.ts inserts the nulls); the time axis
// keeps its labels apart; the legend shows the values under the cursor, and
// the latest ones when the cursor is elsewhere.
import { useEffect, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { clockTime, formatFigure, latest, timeAxisLabels } from "./series";

export interface ChartSeries {
  label: string;
  color: string;
}

/** The least room between two time labels (px): an `HH:MM:SS` label is about 50 px wide at 11 px. */
const TIME_LABEL_SPACE = 80;

/**
 * @param unit appended to every value in the legend and on the y axis (" ms", "%").
 * The container carries `data-x-ticks` (the time labels drawn and their x
 * positions, px from the plot's left) and `data-gaps`, for tests and tooling.
 */
export function Chart({ series, data, gaps = 0, unit = "", height = 150 }: { series: ChartSeries[]; data: uPlot.AlignedData; gaps?: number; unit?: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latestData = useRef(data);
  useEffect(() => {
    latestData.current = data;
    plot.current?.setData(data);
  }, [data]);

  useEffect(() => {
    let disposed = false;
    let observer: ResizeObserver | null = null;
    void import("uplot").then(({ default: UPlot }) => {
      const el = box.current;
      if (disposed || !el) return;
      const styles = getComputedStyle(document.documentElement);
      const muted = styles.getPropertyValue("--muted").trim() || "#888";
      const grid = styles.getPropertyValue("--border").trim() || "#ddd";
      const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: "11px system-ui" };
      /** The time labels of the last layout, written onto the container after each draw. */
      let ticks: { splits: number[]; labels: string[] } = { splits: [], labels: [] };
      plot.current = new UPlot(
        {
          width: el.clientWidth,
          height,
          legend: { show: true, live: true },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.15 : 1] } },
          axes: [
            {
              ...axis,
              space: TIME_LABEL_SPACE,
              values: (_u, splits, _axis, _space, increment) => {
                const labels = timeAxisLabels(splits, increment);
                ticks = { splits, labels };
                return labels;
              },
            },
            { ...axis, size: 56, values: (_u, values) => values.map((v) => formatFigure(v)) },
          ],
          series: [
            // Time: under the cursor, else the newest window's.
            { value: (u, v, _s, idx) => clockTime(idx === null ? (latest(u.data[0]) ?? Date.now() / 1000) : v) },
            ...series.map((s) => ({
              label: s.label,
              stroke: s.color,
              width: 1.6,
              fill: `${s.color}1a`,
              spanGaps: false,
              points: { show: false },
              value: (u: uPlot, v: number | null, seriesIdx: number, idx: number | null) => {
                const shown = idx === null ? latest(u.data[seriesIdx] ?? []) : v;
                return shown === null ? "—" : formatFigure(shown, unit);
              },
            })),
          ],
          hooks: {
            draw: [
              (u) => {
                el.dataset.xTicks = JSON.stringify(ticks.labels.map((label, i) => ({ label, x: Math.round(u.valToPos(ticks.splits[i] ?? 0, "x")) })));
              },
            ],
          },
        },
        latestData.current,
        el,
      );
      observer = new ResizeObserver(() => plot.current?.setSize({ width: el.clientWidth, height }));
      observer.observe(el);
    });
    return () => {
      disposed = true;
      observer?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series, height, unit]);

  return <div ref={box} className="w-full" data-gaps={gaps} />;
}
