"use client";
// One uPlot time-series chart. uPlot is loaded in the browser only; new data
// goes through setData (no re-creation), the width follows the card.
import { useEffect, useRef } from "react";
import type uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  color: string;
}

export function Chart({ series, data, height = 150 }: { series: ChartSeries[]; data: uPlot.AlignedData; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef(data);
  useEffect(() => {
    latest.current = data;
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
      plot.current = new UPlot(
        {
          width: el.clientWidth,
          height,
          legend: { show: true, live: true },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: (_u, min, max) => [Math.min(0, min), max > 0 ? max * 1.15 : 1] } },
          axes: [axis, { ...axis, size: 56, values: (_u, ticks) => ticks.map((t) => (Math.abs(t) >= 1000 ? `${+(t / 1000).toFixed(1)}k` : `${+t.toFixed(2)}`)) }],
          series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.6, fill: `${s.color}1a`, spanGaps: true, points: { show: false } }))],
        },
        latest.current,
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
  }, [series, height]);

  return <div ref={box} className="w-full" />;
}
