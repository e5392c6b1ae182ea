"use client";
// /metrics: live uPlot charts from metrics.live (history first, then one
// window per resolution step), with a resolution selector, pause, and (with
// several instances) an instance / cluster selector.
import { useQuery } from "@tanstack/react-query";
import { Pause, Play } from "lucide-react";
import { useEffect, useMemo, useState } from "react";
import type { GpuSample, MetricsSample } from "../../shared/metrics";
import { metricsResolutions, type MetricsResolutionMs } from "../../shared/metrics";
import { errorMessage, parley } from "../_components/parley";
import { useTRPC } from "../_components/trpc";
import { Button, Card, ErrorState, Loading, PageHeader } from "../_components/ui";
import { Chart } from "./chart";
import { alignedData, formatFigure, type SeriesSpec } from "./series";

const MAX_POINTS = 600;

interface ChartSpec {
  key: string;
  title: string;
  unit: string;
  series: SeriesSpec[];
}

const mb = (b: number) => b / 1_048_576;
const gb = (b: number) => b / 1_073_741_824;
const CHARTS: ChartSpec[] = [
  { key: "connections", title: "Connections", unit: "", series: [{ label: "WebSocket", color: "#6366f1", get: (w) => w.hub.connections }] },
  {
    key: "messages",
    title: "Messages / s",
    unit: "",
    series: [
      { label: "out", color: "#0ea5e9", get: (w) => w.hub.messagesOutPerSec },
      { label: "in", color: "#a855f7", get: (w) => w.hub.messagesInPerSec },
    ],
  },
  {
    key: "errors",
    title: "Errors / s",
    unit: "",
    series: [
      { label: "all (refusals too)", color: "#f59e0b", get: (w) => w.hub.errorsPerSec ?? null },
      { label: "internal", color: "#ef4444", get: (w) => w.hub.internalErrorsPerSec ?? null },
    ],
  },
  {
    key: "fanout",
    title: "Fan-out latency",
    unit: " ms",
    series: [
      { label: "p50", color: "#10b981", get: (w) => w.hub.fanoutP50Ms },
      { label: "p99", color: "#f59e0b", get: (w) => w.hub.fanoutP99Ms },
    ],
  },
  {
    key: "eventloop",
    title: "Event-loop delay",
    unit: " ms",
    series: [
      { label: "p50", color: "#10b981", get: (w) => w.process.eventLoopDelayP50Ms },
      { label: "p99", color: "#ef4444", get: (w) => w.process.eventLoopDelayP99Ms },
    ],
  },
  {
    key: "cpu",
    title: "CPU, 100 = one core",
    unit: "%",
    series: [
      { label: "process", color: "#f97316", get: (w) => w.process.cpuPercent },
      { label: "host", color: "#64748b", get: (w) => w.host?.cpuPercent ?? null },
    ],
  },
  {
    key: "memory",
    title: "Process memory",
    unit: " MB",
    series: [
      { label: "RSS", color: "#6366f1", get: (w) => mb(w.process.rssBytes) },
      { label: "heap", color: "#14b8a6", get: (w) => mb(w.process.heapUsedBytes) },
    ],
  },
  {
    key: "host-memory",
    title: "Host memory",
    unit: " GB",
    series: [
      { label: "used", color: "#64748b", get: (w) => (w.host ? gb(w.host.memoryUsedBytes) : null) },
      { label: "total", color: "#94a3b8", get: (w) => (w.host ? gb(w.host.memoryTotalBytes) : null) },
    ],
  },
  { key: "runs", title: "Active chat runs", unit: "", series: [{ label: "runs", color: "#ec4899", get: (w) => w.hub.activeChatRuns }] },
  { key: "tokens", title: "Tokens / s (last runs)", unit: "", series: [{ label: "tok/s", color: "#84cc16", get: (w) => w.hub.chatTokensPerSecond }] },
];

const GPU_COLORS = ["#22c55e", "#3b82f6", "#eab308", "#d946ef", "#06b6d4", "#f43f5e", "#a3e635", "#8b5cf6"];

type GpuIdentity = Pick<GpuSample, "index" | "name">;

const sameGpus = (a: readonly GpuIdentity[], b: readonly GpuIdentity[]) =>
  a.length === b.length && a.every((gpu, i) => gpu.index === b[i]?.index && gpu.name === b[i]?.name);

/** Utilisation and memory charts, one line per GPU, for the GPUs the newest window lists. */
function gpuCharts(gpus: readonly GpuIdentity[]): ChartSpec[] {
  if (gpus.length === 0) return [];
  const line = (gpu: GpuIdentity, i: number, get: (g: GpuSample) => number): SeriesSpec => ({
    label: `${gpu.index}: ${gpu.name}`,
    color: GPU_COLORS[i % GPU_COLORS.length] ?? "#22c55e",
    get: (w) => {
      const reading = w.gpu?.find((g) => g.index === gpu.index);
      return reading ? get(reading) : null;
    },
  });
  return [
    { key: "gpu-utilization", title: "GPU utilisation", unit: "%", series: gpus.map((g, i) => line(g, i, (r) => r.utilizationPercent)) },
    { key: "gpu-memory", title: "GPU memory used", unit: " GB", series: gpus.map((g, i) => line(g, i, (r) => gb(r.memoryUsedBytes))) },
  ];
}

const resolutionLabel: Record<MetricsResolutionMs, string> = { 1000: "1 s", 5000: "5 s", 10000: "10 s", 60000: "1 min" };

/** The selector's value for the whole cluster; any other non-empty value names an instance. */
const CLUSTER = "cluster";

export default function MetricsPage() {
  const trpc = useTRPC();
  const instances = useQuery({ ...trpc.metrics.instances.queryOptions(), refetchInterval: 5_000, meta: { silent: true }, retry: false });
  /** "" = the instance serving this page. */
  const [view, setView] = useState("");
  const [resolution, setResolution] = useState<MetricsResolutionMs>(1000);
  const [paused, setPaused] = useState(false);
  const [windows, setWindows] = useState<MetricsSample[]>([]);
  const [shown, setShown] = useState<MetricsSample[]>([]);
  const [gpus, setGpus] = useState<GpuIdentity[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const scope = view === CLUSTER ? { scope: "cluster" as const } : view ? { instance: view } : {};
    const sub = parley().api.metrics.live.subscribe(
      { resolutionMs: resolution, ...scope },
      {
        onData: ({ data }) => setWindows((w) => [...w.filter((x) => x.t !== data.t), data].slice(-MAX_POINTS)),
        onError: setError,
      },
    );
    return () => sub.unsubscribe();
  }, [resolution, view, attempt]);

  // Paused charts keep what they show; the stream keeps buffering underneath.
  if (!paused && shown !== windows) setShown(windows);

  const last = shown.at(-1);
  // GPU charts appear when the newest window lists GPUs (nvidia-smi runs); their lines follow the GPUs it lists.
  const listedGpus = last?.gpu ?? [];
  if (!sameGpus(listedGpus, gpus)) setGpus(listedGpus.map(({ index, name }) => ({ index, name })));
  const charts = useMemo(() => [...CHARTS, ...gpuCharts(gpus)], [gpus]);
  const datasets = useMemo(() => charts.map((c) => alignedData(shown, c.series)), [charts, shown]);

  return (
    <>
      <PageHeader
        title="Metrics"
        description="Live process and hub figures from metrics.live: the last ten minutes, then every new window."
        actions={
          <>
            {(instances.data?.instances.length ?? 0) > 1 && (
              <select
                aria-label="Instance"
                value={view}
                onChange={(e) => {
                  setView(e.target.value);
                  setWindows([]);
                }}
                className="rounded-lg border border-border bg-panel px-2 py-1 text-xs"
              >
                <option value="">This instance ({instances.data?.instance})</option>
                {instances.data?.instances.slice(1).map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
                <option value={CLUSTER}>Cluster (all instances)</option>
              </select>
            )}
            <div role="radiogroup" aria-label="Resolution" className="flex rounded-lg border border-border bg-panel p-0.5">
              {metricsResolutions.map((r) => (
                <button
                  key={r}
                  role="radio"
                  aria-checked={resolution === r}
                  onClick={() => {
                    setResolution(r);
                    setWindows([]);
                  }}
                  className={`rounded-md px-2.5 py-1 text-xs font-medium ${resolution === r ? "bg-accent text-accent-fg" : "text-muted hover:text-fg"}`}
                >
                  {resolutionLabel[r]}
                </button>
              ))}
            </div>
            <Button onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
              {paused ? <Play size={14} /> : <Pause size={14} />} {paused ? "Resume" : "Pause"}
            </Button>
          </>
        }
      />
      {error ? (
        <Card>
          <ErrorState title="The metrics stream stopped" message={errorMessage(error)} retry={() => {
              setError(null);
              setAttempt((a) => a + 1);
            }} />
        </Card>
      ) : shown.length === 0 ? (
        <Card>
          <Loading label="Waiting for the first metrics window…" />
        </Card>
      ) : (
        <div className="grid gap-4 md:grid-cols-2" data-testid="metrics-charts" data-points={shown.length} data-last={last?.t}>
          {charts.map((c, i) => {
            const latest = last ? c.series.map((s) => s.get(last)) : [];
            return (
              <section key={c.key} data-testid={`chart-${c.key}`} aria-label={c.title}>
              <Card className="p-4">
                <div className="mb-2 flex items-baseline justify-between gap-2">
                  <h2 className="text-sm font-medium text-muted">
                    {c.title}
                    {c.unit.trim() && <span className="ml-1 text-xs">({c.unit.trim()})</span>}
                  </h2>
                  <span className="text-lg font-semibold tabular-nums">
                    {latest.map((v, j) => (
                      <span key={j} className="ml-3" style={{ color: c.series[j]?.color }}>
                        {v === null || v === undefined ? "—" : formatFigure(v, c.unit)}
                      </span>
                    ))}
                  </span>
                </div>
                <Chart series={c.series} data={datasets[i]?.data ?? [[]]} gaps={datasets[i]?.gaps ?? 0} unit={c.unit} />
              </Card>
              </section>
            );
          })}
        </div>
      )}
      {paused && <p className="mt-3 text-center text-xs text-muted">Paused: new windows are buffered and shown on resume.</p>}
    </>
  );
}
