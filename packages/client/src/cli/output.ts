// How the CLI prints: one line per record for people, one JSON value per line
// (NDJSON for streams) with --json for scripts. Dates print as ISO strings.
import type { AgentEventEnvelope, Message, MetricsWindow, Session, SessionEvent } from "../index";

export interface Output {
  json: boolean;
  /** One record: JSON with --json, else `human()`'s text. */
  record(value: unknown, human: () => string): void;
  /** A list: one JSON array with --json, else a line per item (`line`), or `empty` when there is none. */
  list<T>(items: T[], empty: string, line: (item: T) => string): void;
  /** Text for people only (skipped with --json). */
  text(line: string): void;
  /** Raw text to stdout without a newline (streamed answers). */
  raw(text: string): void;
  /** Progress and notices on stderr (never mixed into --json output). */
  note(line: string): void;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    record(value, human) {
      process.stdout.write(`${json ? JSON.stringify(value) : human()}\n`);
    },
    list(items, empty, line) {
      if (json) process.stdout.write(`${JSON.stringify(items)}\n`);
      else if (items.length === 0) process.stdout.write(`${empty}\n`);
      else for (const item of items) process.stdout.write(`${line(item)}\n`);
    },
    text(line) {
      if (!json) process.stdout.write(`${line}\n`);
    },
    raw(text) {
      process.stdout.write(text);
    },
    note(line) {
      process.stderr.write(`${line}\n`);
    },
  };
}

const time = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString().replace("T", " ").slice(0, 19) : "-");

export function formatSession(s: Pick<Session, "id" | "title" | "updatedAt" | "archivedAt">): string {
  return `${s.id}  ${s.title}${s.archivedAt ? "  (archived)" : ""}  updated ${time(s.updatedAt)}`;
}

/** `#3 alice "on call" (user): ...`: the author, then in quotes the label the poster chose, if any. */
export function formatMessage(m: Pick<Message, "seq" | "author" | "authorLabel" | "role" | "content" | "status">, edited = false): string {
  const status = m.status === "complete" ? "" : ` [${m.status}]`;
  const label = m.authorLabel ? ` ${JSON.stringify(m.authorLabel)}` : "";
  return `#${m.seq} ${m.author}${label} (${m.role})${edited ? " edited" : ""}${status}: ${m.content}`;
}

/** A session event for people; null for events not worth a line (chat text as it streams). */
export function formatSessionEvent(event: SessionEvent): string | null {
  switch (event.type) {
    case "message.created":
      return formatMessage(event.message);
    case "message.updated":
      return formatMessage(event.message, true);
    case "message.deleted":
      return `#${event.message.seq} deleted`;
    case "session.updated":
      return `session renamed/updated: ${event.session.title}${event.session.archivedAt ? " (archived)" : ""}`;
    case "stream.reset":
      return `stream reset (${event.reason}): replaying from the start`;
    default:
      return null;
  }
}

export function formatAgentEvent(e: AgentEventEnvelope): string {
  const where = e.sessionId ? ` session=${e.sessionId}` : "";
  return `${e.id} ${time(e.createdAt)} ${e.type}${where} ${JSON.stringify(e.data)}`;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ms = (v: number | null) => (v === null ? "-" : `${v.toFixed(1)} ms`);
const num = (v: number | null, digits = 1) => (v === null ? "-" : v.toFixed(digits));

/** The key figures of one metrics window, as a small block of lines. */
export function formatMetrics(w: MetricsWindow): string[] {
  const subscriptions = Object.values(w.hub.subscriptions).reduce((a, b) => a + b, 0);
  const lines = [
    `Parley metrics  ${time(new Date(w.t))}  (window ${w.windowMs / 1000} s)`,
    `process   cpu ${num(w.process.cpuPercent)}%   rss ${mb(w.process.rssBytes)}   heap ${mb(w.process.heapUsedBytes)}   event loop p99 ${ms(w.process.eventLoopDelayP99Ms)}`,
    `hub       connections ${w.hub.connections}   subscriptions ${subscriptions}   presence ${w.hub.presenceMembers}`,
    `traffic   in ${num(w.hub.messagesInPerSec)}/s   out ${num(w.hub.messagesOutPerSec)}/s   ${mb(w.hub.bytesOutPerSec)}/s   fan-out p50 ${ms(w.hub.fanoutP50Ms)} p99 ${ms(w.hub.fanoutP99Ms)}`,
    `chat      active runs ${w.hub.activeChatRuns}   ttft ${ms(w.hub.chatTtftMs)}   ${num(w.hub.chatTokensPerSecond)} tokens/s`,
    `database  ping ${ms(w.hub.dbPingMs)}   query mean ${ms(w.hub.dbQueryMeanMs)}   events ${num(w.hub.eventsPublishedPerSec)}/s`,
  ];
  for (const gpu of w.gpu ?? []) {
    lines.push(`gpu ${gpu.index}     ${gpu.name}  ${gpu.utilizationPercent}%  ${mb(gpu.memoryUsedBytes)} / ${mb(gpu.memoryTotalBytes)}`);
  }
  return lines;
}
