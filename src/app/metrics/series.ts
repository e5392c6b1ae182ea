// From metrics windows to what a uPlot chart draws, without React: the aligned
// columns (a missing stretch of time becomes a row of nulls, so the line
// breaks there instead of sloping across it), the time axis labels, and the
// values a legend shows.
import type uPlot from "uplot";
import type { MetricsSample } from "../../shared/metrics";

/** One line of a chart: its label, colour, and where its figure is in a window (null: not measured). */
export interface SeriesSpec {
  label: string;
  color: string;
  get: (window: MetricsSample) => number | null;
}

/**
 * Time without a window, past which a line breaks: more than two windows, and
 * more than 3 s (a tick that ran late leaves one 1 s window out, its sample
 * folded into the one before: not a gap).
 */
const gapAfterMs = (windowMs: number) => Math.max(2 * windowMs, 3_000);

/**
 * uPlot's aligned data for `windows` (oldest first): x in seconds, one column
 * per series. Where the next window starts well after the previous one ended
 * (see gapAfterMs: a restart, a stream that was away longer than the
 * history), a row of nulls is inserted at the end of the previous one, so
 * every line has a gap there; figures that were not measured stay null.
 * `gaps` counts the inserted rows.
 */
export function alignedData(windows: readonly MetricsSample[], series: readonly Pick<SeriesSpec, "get">[]): { data: uPlot.AlignedData; gaps: number } {
  const xs: number[] = [];
  const columns: (number | null)[][] = series.map(() => []);
  let gaps = 0;
  let previous: MetricsSample | undefined;
  for (const window of windows) {
    if (previous && window.t - (previous.t + previous.windowMs) > gapAfterMs(Math.max(previous.windowMs, window.windowMs))) {
      xs.push((previous.t + previous.windowMs) / 1000);
      for (const column of columns) column.push(null);
      gaps++;
    }
    xs.push(window.t / 1000);
    series.forEach((s, i) => columns[i]?.push(s.get(window)));
    previous = window;
  }
  return { data: [xs, ...columns] as uPlot.AlignedData, gaps };
}

const pad = (n: number) => String(n).padStart(2, "0");

/** A time of day (local) for seconds since the epoch: `14:05:09`, or `14:05` when `seconds` is false. */
export function clockTime(epochSeconds: number, seconds = true): string {
  const d = new Date(epochSeconds * 1000);
  return seconds ? `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Time-axis labels: one line each, seconds only while the ticks are less than a minute apart. */
export function timeAxisLabels(splits: readonly number[], incrementSeconds: number): string[] {
  return splits.map((s) => clockTime(s, incrementSeconds < 60));
}

/** A figure as a chart shows it: up to two decimals below 10, whole numbers above, thousands as `k`. */
export function formatFigure(value: number, unit = ""): string {
  const text = Math.abs(value) >= 10_000 ? `${+(value / 1000).toFixed(1)}k` : `${+value.toFixed(Math.abs(value) < 10 ? 2 : 0)}`;
  return `${text}${unit}`;
}

/** The newest non-null value of a column; null when it has none. */
export function latest(column: ArrayLike<number | null | undefined>): number | null {
  for (let i = column.length - 1; i >= 0; i--) {
    const value = column[i];
    if (value !== null && value !== undefined) return value;
  }
  return null;
}
