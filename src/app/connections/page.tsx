"use client";
// /connections (admin): the rooms (sessions with their subscribed connections
// and who is present), every open WebSocket of every instance with its details
// (principal, user agent, address, since, subscriptions, traffic, bytes
// queued), a filter, a live log of connects and disconnects (from one poll to
// the next, every second), disconnect, and publishing a typed event.
import { useMutation, useQuery } from "@tanstack/react-query";
import { Cable, Send, Unplug } from "lucide-react";
import Link from "next/link";
import { useMemo, useState, type FormEvent } from "react";
import type { RouterInputs, RouterOutputs } from "@parley/client";
import { knownAgentEventTypes } from "../../shared/agent-events";
import { Avatar } from "../_components/avatar";
import { errorMessage, parley } from "../_components/parley";
import { notify } from "../_components/toasts";
import { useTRPC } from "../_components/trpc";
import { Button, Card, EmptyState, ErrorState, Loading, PageHeader, relativeTime } from "../_components/ui";

type Listing = RouterOutputs["system"]["connections"];
type Connection = Listing["connections"][number];

function bytes(n: number) {
  if (n < 1024) return `${n} B`;
  if (n < 1_048_576) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1_048_576).toFixed(1)} MB`;
}

/** The browser or tool in a User-Agent, shortly. */
function agentOf(userAgent: string | null): string {
  if (!userAgent) return "unknown client";
  const known = /(Firefox|Edg|Chrome|Safari|node|curl|parley)[/ ]?([\d.]*)/i.exec(userAgent);
  return known ? `${known[1]}${known[2] ? ` ${known[2].split(".")[0]}` : ""}` : userAgent.slice(0, 40);
}

const keyOf = (c: Connection) => `${c.instance}/${c.connectionId}`;

interface LogEntry {
  at: Date;
  kind: "connected" | "disconnected";
  connection: Connection;
}

/** Connects and disconnects, from one listing to the next (newest first, the last 100): derived while rendering a new listing. */
function useConnectionLog(listing: Listing | undefined): LogEntry[] {
  const [state, setState] = useState<{ listing: Listing | undefined; byKey: Map<string, Connection> | null; log: LogEntry[] }>({
    listing: undefined,
    byKey: null,
    log: [],
  });
  if (listing && listing !== state.listing) {
    const now = new Map(listing.connections.map((c) => [keyOf(c), c]));
    const before = state.byKey;
    const at = new Date();
    const entries: LogEntry[] = [];
    if (before) {
      for (const [key, c] of now) if (!before.has(key)) entries.push({ at, kind: "connected", connection: c });
      for (const [key, c] of before) if (!now.has(key)) entries.push({ at, kind: "disconnected", connection: c });
    }
    setState({ listing, byKey: now, log: entries.length > 0 ? [...entries, ...state.log].slice(0, 100) : state.log });
  }
  return state.log;
}

function matches(c: Connection, rooms: Listing["rooms"], filter: string): boolean {
  if (!filter) return true;
  const titles = c.sessions.map((id) => rooms.find((r) => r.sessionId === id)?.title ?? id);
  const haystack = [c.connectionId, c.instance, c.principal.name, c.principal.kind, c.clientAddress, c.userAgent, ...titles, ...c.subscriptions.map((s) => s.procedure)]
    .join(" ")
    .toLowerCase();
  return filter
    .toLowerCase()
    .split(/\s+/)
    .every((word) => haystack.includes(word));
}

function PublishEvent({ sessions }: { sessions: Listing["rooms"] }) {
  const [type, setType] = useState("system.alert");
  const [data, setData] = useState('{ "message": "Maintenance in 10 minutes", "level": "warning" }');
  const [sessionId, setSessionId] = useState("");
  const [to, setTo] = useState("");
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch (error) {
      setResult({ ok: false, text: `data is not JSON: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    try {
      // The server's schema judges the event and names the field that is wrong.
      const input = { type, data: parsed, ...(sessionId ? { sessionId } : {}), ...(to.trim() ? { to: to.trim() } : {}) };
      const published = await parley().api.events.publish.mutate(input as RouterInputs["events"]["publish"]);
      setResult({ ok: true, text: `published ${published.type} as event ${published.id}` });
    } catch (error) {
      setResult({ ok: false, text: errorMessage(error) });
    }
  };
  const field = "h-9 rounded-lg border border-border bg-bg px-2.5 text-sm outline-none focus:border-accent";
  return (
    <form onSubmit={(e) => void submit(e)} className="space-y-2.5 p-4" aria-label="Publish a typed event">
      <div className="flex flex-wrap gap-2">
        <input aria-label="Event type" list="event-types" value={type} onChange={(e) => setType(e.target.value)} className={`${field} w-48 font-mono`} />
        <datalist id="event-types">
          {knownAgentEventTypes.map((t) => (
            <option key={t} value={t} />
          ))}
        </datalist>
        <select aria-label="Event session" value={sessionId} onChange={(e) => setSessionId(e.target.value)} className={field}>
          <option value="">no session</option>
          {sessions.map((s) => (
            <option key={s.sessionId} value={s.sessionId}>
              {s.title ?? s.sessionId}
            </option>
          ))}
        </select>
        <input aria-label="Addressed to (principal id)" placeholder="to: principal id (optional)" value={to} onChange={(e) => setTo(e.target.value)} className={`${field} w-56`} />
      </div>
      <textarea aria-label="Event data (JSON)" value={data} onChange={(e) => setData(e.target.value)} rows={3} className="w-full rounded-lg border border-border bg-bg p-2.5 font-mono text-xs outline-none focus:border-accent" />
      <div className="flex items-center gap-3">
        <Button type="submit" variant="primary" size="sm">
          <Send size={13} aria-hidden /> Publish
        </Button>
        {result && (
          <span role="status" data-testid="publish-result" className={`text-xs ${result.ok ? "text-emerald-600 dark:text-emerald-400" : "text-red-600 dark:text-red-400"}`}>
            {result.text}
          </span>
        )}
      </div>
    </form>
  );
}

export default function ConnectionsPage() {
  const trpc = useTRPC();
  const list = useQuery({ ...trpc.system.connections.queryOptions(), refetchInterval: 1_000, meta: { silent: true }, retry: false });
  const [filter, setFilter] = useState("");
  const log = useConnectionLog(list.data);
  const disconnect = useMutation(
    trpc.system.disconnect.mutationOptions({
      onSuccess: (r) => {
        notify("Disconnected", `${r.disconnected} was closed; its client will reconnect and resume.`);
        void list.refetch();
      },
    }),
  );
  const rooms = useMemo(() => list.data?.rooms ?? [], [list.data]);
  const connections = useMemo(() => (list.data?.connections ?? []).filter((c) => matches(c, rooms, filter)), [list.data, rooms, filter]);
  const shownRooms = rooms.filter((r) => connections.some((c) => c.sessions.includes(r.sessionId)));
  return (
    <>
      <PageHeader
        title="Connections"
        description="Rooms and open WebSocket connections, refreshed every second. Disconnecting one closes it with code 4000; the client reconnects and resumes its streams."
        actions={
          <span className="text-sm text-muted tabular-nums">
            {list.data ? `${list.data.connections.length} open · ${rooms.length} rooms` : ""}
            {list.data && list.data.unanswered.length > 0 ? ` · no answer from ${list.data.unanswered.join(", ")}` : ""}
          </span>
        }
      />
      <input
        aria-label="Filter connections"
        placeholder="Filter: a name, session, address, client, procedure…"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        className="mb-4 h-10 w-full rounded-lg border border-border bg-panel px-3 text-sm outline-none focus:border-accent"
      />
      {list.isPending ? (
        <Loading label="Loading connections…" />
      ) : list.isError && !list.data ? (
        <ErrorState title="Could not list connections" message={errorMessage(list.error)} retry={() => void list.refetch()} />
      ) : (
        <div className="space-y-5">
          <section aria-label="Rooms">
            <h2 className="mb-2 text-xs font-semibold tracking-wide text-muted uppercase">Rooms</h2>
            {shownRooms.length === 0 ? (
              <p className="text-sm text-muted">No connection is in a session.</p>
            ) : (
              <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
                {shownRooms.map((room) => (
                  <Card key={room.sessionId} className="p-3.5">
                    <div data-testid="room" data-session-id={room.sessionId}>
                      <Link href={`/s/${room.sessionId}`} className="font-medium hover:underline">
                        {room.title ?? room.sessionId}
                      </Link>
                      <p className="mt-0.5 text-xs text-muted" data-testid="room-figures">
                        {room.connections} {room.connections === 1 ? "connection" : "connections"} subscribed · {room.present.length} present
                      </p>
                      <div className="mt-2 flex flex-wrap items-center gap-1.5">
                        {room.present.map((p) => (
                          <span key={p.principalId} className="flex items-center gap-1 rounded-full bg-subtle py-0.5 pr-2 pl-0.5 text-xs" data-testid="room-present">
                            <Avatar id={p.principalId} name={p.name} size={18} />
                            {p.name}
                          </span>
                        ))}
                      </div>
                      <ul className="mt-2 space-y-0.5 font-mono text-[11px] text-muted">
                        {connections
                          .filter((c) => c.sessions.includes(room.sessionId))
                          .map((c) => (
                            <li key={keyOf(c)}>
                              {c.principal.name} · {c.connectionId}
                            </li>
                          ))}
                      </ul>
                    </div>
                  </Card>
                ))}
              </div>
            )}
          </section>

          <Card className="overflow-x-auto">
            {connections.length === 0 ? (
              <EmptyState icon={<Cable size={20} />} title={filter ? "No connection matches the filter" : "No open connections"} />
            ) : (
              <table className="w-full text-left text-sm">
                <thead className="border-b border-border text-xs text-muted">
                  <tr>
                    <th className="px-4 py-2.5 font-medium">Connection</th>
                    <th className="px-4 py-2.5 font-medium">Sessions and subscriptions</th>
                    <th className="px-4 py-2.5 text-right font-medium">In / out</th>
                    <th className="px-4 py-2.5 text-right font-medium">Sent</th>
                    <th className="px-4 py-2.5 text-right font-medium">Queued</th>
                    <th className="px-4 py-2.5" />
                  </tr>
                </thead>
                <tbody className="divide-y divide-border">
                  {connections.map((c) => (
                    <tr key={keyOf(c)} data-testid="connection-row" data-connection-id={c.connectionId} className="align-top">
                      <td className="px-4 py-3">
                        <div className="font-medium">
                          {c.principal.name} <span className="text-xs font-normal text-muted">({c.principal.kind}{c.principal.role ? `, ${c.principal.role}` : ""})</span>
                        </div>
                        <div className="font-mono text-xs text-muted">
                          {c.connectionId} · <span data-testid="connection-instance">{c.instance}</span> · {c.clientAddress ?? "?"} · since {relativeTime(c.connectedAt)}
                        </div>
                        <div className="text-xs text-muted" title={c.userAgent ?? undefined} data-testid="connection-agent">
                          {agentOf(c.userAgent)}
                        </div>
                      </td>
                      <td className="px-4 py-3">
                        <div className="flex flex-wrap gap-1">
                          {c.sessions.map((id) => (
                            <Link key={id} href={`/s/${id}`} className="rounded-md border border-border px-1.5 py-0.5 text-xs hover:bg-subtle">
                              {rooms.find((r) => r.sessionId === id)?.title ?? id}
                            </Link>
                          ))}
                          {c.subscriptions.length === 0 ? (
                            <span className="text-xs text-muted">no subscriptions</span>
                          ) : (
                            c.subscriptions.map((s) => (
                              <span key={s.procedure} className="rounded-md bg-subtle px-1.5 py-0.5 font-mono text-xs">
                                {s.procedure}
                                {s.count > 1 ? ` ×${s.count}` : ""}
                              </span>
                            ))
                          )}
                        </div>
                      </td>
                      <td className="px-4 py-3 text-right tabular-nums">
                        {c.messagesIn} / {c.messagesOut}
                      </td>
                      <td className="px-4 py-3 text-right tabular-nums">{bytes(c.bytesOut)}</td>
                      <td className={`px-4 py-3 text-right tabular-nums ${c.bufferedAmount > 65_536 ? "font-semibold text-amber-600" : ""}`}>{bytes(c.bufferedAmount)}</td>
                      <td className="px-4 py-3 text-right">
                        <Button
                          size="sm"
                          variant="danger"
                          disabled={disconnect.isPending}
                          onClick={() => disconnect.mutate({ connectionId: c.connectionId, instance: c.instance })}
                          aria-label={`Disconnect ${c.connectionId}`}
                        >
                          <Unplug size={13} /> Disconnect
                        </Button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Card>

          <div className="grid gap-5 lg:grid-cols-2">
            <section aria-label="Connection log">
              <h2 className="mb-2 text-xs font-semibold tracking-wide text-muted uppercase">Live log</h2>
              <Card className="max-h-72 overflow-y-auto p-3">
                {log.length === 0 ? (
                  <p className="text-sm text-muted">Connects and disconnects show here as they happen.</p>
                ) : (
                  <ol className="space-y-1 font-mono text-xs" data-testid="connection-log">
                    {log.map((e, i) => (
                      <li key={`${keyOf(e.connection)}-${e.kind}-${i}`} data-kind={e.kind}>
                        <span className="text-muted">{e.at.toLocaleTimeString()}</span>{" "}
                        <span className={e.kind === "connected" ? "text-emerald-600 dark:text-emerald-400" : "text-red-600 dark:text-red-400"}>{e.kind}</span>{" "}
                        {e.connection.principal.name} · {e.connection.connectionId}
                      </li>
                    ))}
                  </ol>
                )}
              </Card>
            </section>
            <section aria-label="Publish an event">
              <h2 className="mb-2 text-xs font-semibold tracking-wide text-muted uppercase">Publish a typed event</h2>
              <Card>
                <PublishEvent sessions={rooms} />
              </Card>
            </section>
          </div>
        </div>
      )}
    </>
  );
}
