// The memory feature's typed agent events, coalesced: every memory.store and
// memory.recall is an Event row (a database write), so a principal's writes or
// recalls within COALESCE_MS become one event saying how many they were. Under
// load this keeps the event log from taking SQLite's write lock from
// message.post hundreds of times a second; alone, an operation is still one
// event, at most COALESCE_MS late. Figures only, never content or queries.
import type { Logger } from "pino";
import type { z } from "zod";
import { agentEventPublishInput, type AgentEventPublishInput } from "../../shared/agent-events";

export const COALESCE_MS = 250;

/** Where the events go (services/agent-events.ts AgentEventLog). */
export interface AgentEventSink {
  publish(input: z.output<typeof agentEventPublishInput>, source: string): Promise<unknown>;
}

interface StoreBatch {
  kind: "store";
  key: string;
  namespace: string;
  operation: string;
  operations: number;
  bytes: number;
  durationMs: number;
}

interface RecallBatch {
  kind: "recall";
  namespace: string;
  mode: string;
  operations: number;
  count: number;
  durationMs: number;
  textMs: number;
  vectorMs: number | null;
}

const round = (n: number) => Math.round(n * 10) / 10;

export class MemoryActivity {
  private readonly batches = new Map<string, { source: string; sessionId: string | null; batch: StoreBatch | RecallBatch }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sink: AgentEventSink,
    private readonly log: Logger,
  ) {}

  stored(source: string, sessionId: string | null, write: { key: string; namespace: string; operation: string; bytes: number; durationMs: number }): void {
    const id = `store\u0000${source}\u0000${sessionId ?? ""}\u0000${write.namespace}\u0000${write.operation}`;
    const entry = this.batches.get(id);
    if (entry?.batch.kind === "store") {
      const b = entry.batch;
      Object.assign(b, { key: write.key, operations: b.operations + 1, bytes: b.bytes + write.bytes, durationMs: Math.max(b.durationMs, write.durationMs) });
    } else this.batches.set(id, { source, sessionId, batch: { kind: "store", ...write, operations: 1 } });
    this.schedule();
  }

  recalled(source: string, sessionId: string | null, recall: { namespace: string; mode: string; count: number; durationMs: number; textMs: number; vectorMs: number | null }): void {
    const id = `recall\u0000${source}\u0000${sessionId ?? ""}\u0000${recall.namespace}\u0000${recall.mode}`;
    const entry = this.batches.get(id);
    if (entry?.batch.kind === "recall") {
      const b = entry.batch;
      b.operations++;
      b.count += recall.count;
      b.durationMs = Math.max(b.durationMs, recall.durationMs);
      b.textMs = Math.max(b.textMs, recall.textMs);
      if (recall.vectorMs !== null) b.vectorMs = Math.max(b.vectorMs ?? 0, recall.vectorMs);
    } else this.batches.set(id, { source, sessionId, batch: { kind: "recall", ...recall, operations: 1 } });
    this.schedule();
  }

  /** Failures are published at once. */
  failed(source: string, failure: { operation: string; message: string; count?: number; attempt?: number }): void {
    this.publish({ type: "memory.error", data: { ...failure, message: failure.message.slice(0, 2_000) } }, source);
  }

  /** Publish what is pending now (shutdown, tests). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const pending = [...this.batches.values()];
    this.batches.clear();
    for (const { source, sessionId, batch } of pending) {
      const session = sessionId === null ? {} : { sessionId };
      if (batch.kind === "store") {
        const { kind: _kind, durationMs, ...data } = batch;
        this.publish({ type: "memory.store", data: { ...data, durationMs: round(durationMs) }, ...session }, source);
      } else {
        const { kind: _kind, durationMs, textMs, vectorMs, ...data } = batch;
        this.publish({ type: "memory.recall", data: { ...data, durationMs: round(durationMs), textMs: round(textMs), ...(vectorMs === null ? {} : { vectorMs: round(vectorMs) }) }, ...session }, source);
      }
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), COALESCE_MS);
    this.timer.unref();
  }

  private publish(event: AgentEventPublishInput, source: string): void {
    const parsed = agentEventPublishInput.safeParse(event);
    if (!parsed.success) {
      this.log.warn({ type: event.type, issues: parsed.error.issues.length }, "memory event does not match its schema; not published");
      return;
    }
    this.sink.publish(parsed.data, source).catch((error: unknown) => this.log.debug({ err: error, type: event.type }, "memory event not published"));
  }
}
