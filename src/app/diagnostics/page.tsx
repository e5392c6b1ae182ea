"use client";
// /diagnostics: what to run when something is wrong: transports, latency,
// a forced reconnect that must resume without gaps, and what the server is.
// The checks write (a scratch session and posts), so they run only when the
// visitor clicks "Run checks": a link from another site must not make those
// writes in the visitor's name.
import { useQuery } from "@tanstack/react-query";
import { CheckCircle2, CircleDashed, Loader2, RefreshCw, XCircle } from "lucide-react";
import { useCallback, useState } from "react";
import { useConnection } from "../_components/connection-badge";
import { errorMessage } from "../_components/parley";
import { useTRPC } from "../_components/trpc";
import { Button, Card, ErrorState, Loading, PageHeader } from "../_components/ui";
import { checkHttp, checkResume, checkSse, checkWebSocket, type CheckResult } from "./checks";

const CHECKS = [
  { key: "ws", title: "WebSocket", description: "system.ping over /api/trpc-ws", run: checkWebSocket },
  { key: "http", title: "HTTP", description: "system.ping over /api/trpc (batched)", run: checkHttp },
  { key: "sse", title: "Server-Sent Events", description: "a subscription over the SSE fallback transport", run: checkSse },
  { key: "resume", title: "Reconnect and resume", description: "close the socket, post meanwhile, check the event ids continue", run: checkResume },
] as const;

type State = { status: "idle" } | { status: "running" } | ({ status: "done" } & CheckResult);

function StatusIcon({ state }: { state: State }) {
  if (state.status === "running") return <Loader2 size={18} className="animate-spin text-muted" />;
  if (state.status === "idle") return <CircleDashed size={18} className="text-muted" />;
  return state.ok ? <CheckCircle2 size={18} className="text-emerald-500" /> : <XCircle size={18} className="text-red-500" />;
}

export default function DiagnosticsPage() {
  const trpc = useTRPC();
  const connection = useConnection();
  const health = useQuery({ ...trpc.system.health.queryOptions(), refetchInterval: 5_000, meta: { silent: true } });
  const providers = useQuery({ ...trpc.agent.providers.queryOptions(), meta: { silent: true } });
  const [states, setStates] = useState<Record<string, State>>({});
  const [running, setRunning] = useState(false);

  const runAll = useCallback(async () => {
    setRunning(true);
    for (const check of CHECKS) {
      setStates((s) => ({ ...s, [check.key]: { status: "running" } }));
      const result = await check.run().catch((e: unknown): CheckResult => ({ ok: false, summary: errorMessage(e) }));
      setStates((s) => ({ ...s, [check.key]: { status: "done", ...result } }));
    }
    setRunning(false);
  }, []);

  return (
    <>
      <PageHeader
        title="Diagnostics"
        description="Checks to run when something looks wrong. They run when you click Run checks; nothing here changes your data except a scratch session (archived afterwards)."
        actions={
          <Button variant="primary" onClick={() => void runAll()} disabled={running}>
            <RefreshCw size={14} className={running ? "animate-spin" : ""} /> {running ? "Running…" : "Run checks"}
          </Button>
        }
      />
      <div className="grid gap-4 lg:grid-cols-[1fr_20rem]">
        <Card className="divide-y divide-border">
          {CHECKS.map((check) => {
            const state = states[check.key] ?? { status: "idle" };
            return (
              <div key={check.key} className="flex gap-3 p-4" data-testid={`check-${check.key}`} data-status={state.status === "done" ? (state.ok ? "ok" : "failed") : state.status}>
                <div className="pt-0.5">
                  <StatusIcon state={state} />
                </div>
                <div className="min-w-0 flex-1">
                  <div className="flex flex-wrap items-baseline justify-between gap-2">
                    <h2 className="font-medium">{check.title}</h2>
                    <span className="text-xs text-muted">{check.description}</span>
                  </div>
                  <p className={`mt-0.5 text-sm ${state.status === "done" && !state.ok ? "text-red-600 dark:text-red-400" : "text-muted"}`}>
                    {state.status === "done" ? state.summary : state.status === "running" ? "Running…" : "Not run yet"}
                  </p>
                  {state.status === "done" && state.details && (
                    <ul className="mt-1.5 space-y-0.5 font-mono text-xs text-muted">
                      {state.details.map((d) => (
                        <li key={d}>{d}</li>
                      ))}
                    </ul>
                  )}
                </div>
              </div>
            );
          })}
        </Card>
        <Card className="p-4">
          <h2 className="mb-3 font-medium">Server</h2>
          {health.isPending ? (
            <Loading />
          ) : health.isError ? (
            <ErrorState title="Health check failed" message={errorMessage(health.error)} retry={() => void health.refetch()} />
          ) : (
            <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5 text-sm" data-testid="server-summary">
              <dt className="text-muted">Status</dt>
              <dd className={health.data.status === "ok" ? "font-medium text-emerald-600" : "font-medium text-amber-600"}>{health.data.status}</dd>
              <dt className="text-muted">Version</dt>
              <dd className="font-mono">{health.data.version}</dd>
              <dt className="text-muted">Uptime</dt>
              <dd>{health.data.uptimeS < 120 ? `${health.data.uptimeS} s` : `${Math.round(health.data.uptimeS / 60)} min`}</dd>
              <dt className="text-muted">Database</dt>
              <dd>{health.data.db}</dd>
              <dt className="text-muted">Bus</dt>
              <dd>{health.data.bus.status}</dd>
              <dt className="text-muted">WebSockets</dt>
              <dd>{health.data.connections}</dd>
              <dt className="text-muted">Chat providers</dt>
              <dd>{providers.data?.map((p) => `${p.id} (${p.defaultModel})`).join(", ") ?? "…"}</dd>
              <dt className="text-muted">This tab</dt>
              <dd>{connection.kind}, retry backoff 0.25–5 s, keep-alive 15 s</dd>
            </dl>
          )}
        </Card>
      </div>
    </>
  );
}
