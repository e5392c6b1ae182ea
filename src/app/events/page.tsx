"use client";
// /events: the live typed-event log (events.subscribe) with type patterns,
// replay size, pause/resume (events keep arriving and wait), and the demo flow.
import { useMutation } from "@tanstack/react-query";
import { Pause, Play, Radio, Trash2, Zap } from "lucide-react";
import { useEffect, useState, type FormEvent } from "react";
import { eventTypePatternSchema, type AgentEventEnvelope } from "../../shared/agent-events";
import { errorMessage, parley } from "../_components/parley";
import { notify } from "../_components/toasts";
import { useTRPC } from "../_components/trpc";
import { Button, Card, EmptyState, ErrorState, PageHeader } from "../_components/ui";

const MAX_ROWS = 1_000;
const familyColor: Record<string, string> = {
  stt: "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-200",
  llm: "bg-violet-100 text-violet-800 dark:bg-violet-950 dark:text-violet-200",
  tts: "bg-emerald-100 text-emerald-800 dark:bg-emerald-950 dark:text-emerald-200",
  tool: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200",
  memory: "bg-pink-100 text-pink-800 dark:bg-pink-950 dark:text-pink-200",
};

function parsePatterns(text: string): { patterns: string[] | undefined; invalid: string[] } {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const invalid = parts.filter((p) => !eventTypePatternSchema.safeParse(p).success);
  return { patterns: parts.length === 0 || parts.includes("*") ? undefined : parts, invalid };
}

export default function EventsPage() {
  const trpc = useTRPC();
  const [filterText, setFilterText] = useState("*");
  const [filter, setFilter] = useState<{ patterns: string[] | undefined; replay: number }>({ patterns: undefined, replay: 100 });
  const [invalid, setInvalid] = useState<string[]>([]);
  const [paused, setPaused] = useState(false);
  const [events, setEvents] = useState<AgentEventEnvelope[]>([]);
  const [waiting, setWaiting] = useState<AgentEventEnvelope[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const sub = parley().api.events.subscribe.subscribe(
      { types: filter.patterns, replay: filter.replay },
      {
        onData: ({ data }) => setWaiting((w) => [...w, data].slice(-MAX_ROWS)),
        onError: setError,
      },
    );
    return () => sub.unsubscribe();
  }, [filter, attempt]);

  // Move waiting events into the log unless paused (adjusted while rendering).
  if (!paused && waiting.length > 0) {
    const seen = new Set(events.map((e) => e.id));
    setEvents([...waiting.filter((e) => !seen.has(e.id)).reverse(), ...events].slice(0, MAX_ROWS));
    setWaiting([]);
  }

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parsePatterns(filterText);
    setInvalid(parsed.invalid);
    if (parsed.invalid.length > 0) return;
    setEvents([]);
    setWaiting([]);
    setError(null);
    setFilter((f) => ({ ...f, patterns: parsed.patterns }));
  };

  const demo = useMutation(
    trpc.system.demoFlow.mutationOptions({ onSuccess: (r) => notify("Demo flow started", `${r.eventCount} events of a voice-agent turn are on their way.`) }),
  );

  return (
    <>
      <PageHeader
        title="Events"
        description="Typed agent events (speech, LLM, TTS, tools, memory) as they are published, resumable after a reconnect."
        actions={
          <Button variant="primary" onClick={() => demo.mutate({ delayMs: 120 })} disabled={demo.isPending}>
            <Zap size={14} /> Run demo flow
          </Button>
        }
      />
      <Card className="mb-4 p-3">
        <form onSubmit={apply} className="flex flex-wrap items-center gap-2">
          <label className="flex min-w-64 flex-1 items-center gap-2 text-sm">
            <span className="text-muted">Types</span>
            <input
              aria-label="Type filter"
              value={filterText}
              onChange={(e) => setFilterText(e.target.value)}
              placeholder="llm.*, tool.call, custom.*"
              className="h-9 flex-1 rounded-lg border border-border bg-bg px-3 font-mono text-sm outline-none focus:border-accent"
            />
          </label>
          <label className="flex items-center gap-2 text-sm">
            <span className="text-muted">Replay</span>
            <select
              aria-label="Replay size"
              value={filter.replay}
              onChange={(e) => {
                setEvents([]);
                setWaiting([]);
                setFilter((f) => ({ ...f, replay: Number(e.target.value) }));
              }}
              className="h-9 rounded-lg border border-border bg-bg px-2 text-sm"
            >
              {[0, 20, 100, 500, 1000].map((n) => (
                <option key={n} value={n}>
                  {n === 0 ? "none" : `last ${n}`}
                </option>
              ))}
            </select>
          </label>
          <Button type="submit">Apply</Button>
          <Button onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
            {paused ? <Play size={14} /> : <Pause size={14} />} {paused ? `Resume${waiting.length ? ` (${waiting.length})` : ""}` : "Pause"}
          </Button>
          <Button variant="ghost" onClick={() => setEvents([])} aria-label="Clear the log">
            <Trash2 size={14} />
          </Button>
        </form>
        {invalid.length > 0 && (
          <p role="alert" className="mt-2 text-sm text-red-600 dark:text-red-400">
            Not a type or pattern: {invalid.join(", ")}. Use a type (llm.result), a family (llm.*) or *.
          </p>
        )}
      </Card>
      <Card className="overflow-hidden">
        {error ? (
          <ErrorState title="The event stream stopped" message={errorMessage(error)} retry={() => { setError(null); setAttempt((a) => a + 1); }} />
        ) : events.length === 0 ? (
          <EmptyState icon={<Radio size={20} />} title="No events yet">
            Events appear here as agents publish them. “Run demo flow” emits a voice-agent turn.
          </EmptyState>
        ) : (
          <ol aria-label="Event log" className="max-h-[65vh] divide-y divide-border overflow-y-auto font-mono text-xs">
            {events.map((e) => {
              const family = e.type.split(".")[0] ?? "";
              const data = JSON.stringify(e.data);
              return (
                <li key={e.id} data-testid="event-row" data-type={e.type} className="flex items-start gap-3 px-4 py-2 hover:bg-subtle/60">
                  <span className="w-20 shrink-0 text-muted tabular-nums">{new Date(e.createdAt).toLocaleTimeString()}</span>
                  <span className={`w-32 shrink-0 truncate rounded px-1.5 py-0.5 text-center font-medium ${familyColor[family] ?? "bg-subtle text-fg"}`}>{e.type}</span>
                  <span className="min-w-0 flex-1 truncate text-fg/80" title={data}>
                    {data}
                  </span>
                  <span className="shrink-0 text-muted">#{e.id}</span>
                </li>
              );
            })}
          </ol>
        )}
      </Card>
    </>
  );
}
