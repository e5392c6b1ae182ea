// The typed agent event log behind `events.publish` / `events.subscribe`:
// persisted in the Event table (its autoincrement id is the tracked id),
// bounded by count and age, replayed and resumed from the database, live over
// the bus. Addressed events (`to`) reach only that principal's streams.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { tracked, TRPCError, type TrackedEnvelope } from "@trpc/server";
import type { Logger } from "pino";
import type { z } from "zod";
import { Prisma, type Event as EventRow } from "../../generated/prisma/client";
import {
  agentEventSchema,
  eventTypeMatcher,
  type AgentEvent,
  type AgentEventEnvelope,
  type agentEventPublishInput,
} from "../../shared/agent-events";
import { channel, type Bus } from "../bus/bus";
import type { Db } from "../db";
import type { HubStats } from "../metrics/hub-stats";
import { BoundedQueue } from "./bounded-queue";

export const agentEventsChannel = channel<AgentEventEnvelope>("agent-events");

export interface AgentEventLimits {
  /** EVENTS_MAX_COUNT: the newest this many events are kept. */
  maxCount: number;
  /** EVENTS_MAX_AGE_MS: older events are deleted and never served. */
  maxAgeMs: number;
  /** EVENTS_PAYLOAD_MAX_BYTES: largest `data`, as JSON. */
  payloadMaxBytes: number;
}

export interface AgentEventStreamOptions {
  types: readonly string[] | undefined;
  sessionId: string | undefined;
  lastEventId: string | null | undefined;
  replay: number;
  /** The subscriber: addressed events for anyone else are never delivered. */
  principalId: string;
  signal: AbortSignal | undefined;
  queueLimit: number;
  /** When set, events of sessions outside it are never delivered (the sessions the subscriber may read). */
  readableSessionIds?: ReadonlySet<string>;
}

const PAGE = 500;

export class AgentEventLog {
  /** Inserts run one after another, so ids are published in increasing order. */
  private writeChain: Promise<unknown> = Promise.resolve();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly flows = new Set<AbortController>();
  private closed = false;

  constructor(
    private readonly deps: { db: Db; bus: Bus; log: Logger; stats: HubStats; limits: AgentEventLimits },
  ) {}

  start(): void {
    const every = Math.min(60_000, Math.max(1_000, Math.floor(this.deps.limits.maxAgeMs / 10)));
    this.sweepTimer = setInterval(() => {
      this.sweep().catch((error: unknown) => this.deps.log.warn({ err: error }, "event retention sweep failed"));
    }, every);
    this.sweepTimer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const flow of this.flows) flow.abort();
    await this.writeChain.catch(() => undefined);
  }

  /** Persist and publish one event; resolves with what subscribers receive. */
  publish(input: z.output<typeof agentEventPublishInput>, source: string): Promise<AgentEventEnvelope> {
    const { sessionId, to, ...event } = input;
    const json = JSON.stringify(event.data ?? null);
    const bytes = Buffer.byteLength(json);
    const limit = this.deps.limits.payloadMaxBytes;
    if (bytes > limit) {
      return Promise.reject(
        new TRPCError({
          code: "PAYLOAD_TOO_LARGE",
          message: `${event.type} data is ${bytes} bytes as JSON; the limit is ${limit} bytes (EVENTS_PAYLOAD_MAX_BYTES)`,
        }),
      );
    }
    if (this.closed) return Promise.reject(new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the server is shutting down" }));
    const { db, bus, stats } = this.deps;
    const write = this.writeChain.then(async () => {
      const row = await db.event.create({
        data: {
          type: event.type,
          sessionId: sessionId ?? null,
          to: to ?? null,
          source,
          payload: event.data === null ? Prisma.JsonNull : (event.data as Prisma.InputJsonValue),
        },
      });
      const batch = Math.max(1, Math.floor(this.deps.limits.maxCount / 10));
      if (row.id % batch === 0) await this.deleteBeyondCount(row.id);
      const envelope = { ...event, id: row.id, sessionId: row.sessionId, to: row.to, source: row.source, createdAt: row.createdAt };
      stats.eventsPublished++;
      bus.publish(agentEventsChannel, envelope);
      return envelope;
    });
    this.writeChain = write.catch(() => undefined);
    return write;
  }

  private deleteBeyondCount(lastId: number) {
    const { db, limits } = this.deps;
    return db.event.deleteMany({ where: { id: { lte: lastId - limits.maxCount } } });
  }

  /** Delete events past the count or age bound; returns how many. */
  async sweep(): Promise<number> {
    const { db, limits } = this.deps;
    const top = await db.event.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
    const byCount = top ? (await this.deleteBeyondCount(top.id)).count : 0;
    const byAge = await db.event.deleteMany({ where: { createdAt: { lt: new Date(Date.now() - limits.maxAgeMs) } } });
    return byCount + byAge.count;
  }

  private toEnvelope(row: EventRow): AgentEventEnvelope | null {
    const parsed = agentEventSchema.safeParse({ type: row.type, data: row.payload });
    if (!parsed.success) {
      this.deps.log.warn({ eventId: row.id, type: row.type }, "stored event no longer matches its schema; skipped");
      return null;
    }
    const event: AgentEvent = parsed.data;
    return { ...event, id: row.id, sessionId: row.sessionId, to: row.to, source: row.source, createdAt: row.createdAt };
  }

  /** The Prisma filter for a subscriber: visible to it, matching its filters, within retention. */
  private where(opts: AgentEventStreamOptions, newestId: number): Prisma.EventWhereInput {
    const and: Prisma.EventWhereInput[] = [
      { OR: [{ to: null }, { to: opts.principalId }] },
      { createdAt: { gte: new Date(Date.now() - this.deps.limits.maxAgeMs) } },
      { id: { gt: newestId - this.deps.limits.maxCount } },
    ];
    if (opts.sessionId) and.push({ sessionId: opts.sessionId });
    if (opts.readableSessionIds) and.push({ OR: [{ sessionId: null }, { sessionId: { in: [...opts.readableSessionIds] } }] });
    if (opts.types && !opts.types.includes("*")) {
      and.push({
        OR: opts.types.map((p) => (p.endsWith(".*") ? { type: { startsWith: p.slice(0, -1) } } : { type: p })),
      });
    }
    return { AND: and };
  }

  /**
   * Subscribe to the bus first; then either resume (every matching event
   * after `lastEventId`, paged from the database) or replay the last `replay`
   * matching events; then follow the live queue, skipping ids already sent.
   * A `lastEventId` that is not an id, or is ahead of the newest event (the
   * database was reset), is treated as a fresh subscription. A queue overflow
   * re-reads the gap from the database.
   */
  async *stream(opts: AgentEventStreamOptions): AsyncGenerator<TrackedEnvelope<AgentEventEnvelope>, void, unknown> {
    const { db, bus } = this.deps;
    const { signal } = opts;
    const typeMatches = eventTypeMatcher(opts.types);
    const visible = (e: AgentEventEnvelope) =>
      (e.to === null || e.to === opts.principalId) &&
      (opts.sessionId === undefined || e.sessionId === opts.sessionId) &&
      (!opts.readableSessionIds || e.sessionId === null || opts.readableSessionIds.has(e.sessionId)) &&
      typeMatches(e.type);
    /** Live events, with when they arrived here (their fan-out latency is timed when they are handed over). */
    const queue = new BoundedQueue<{ envelope: AgentEventEnvelope; receivedAt: number }>(opts.queueLimit);
    // Every event (filtered or not) passes through here, so a jump in ids
    // means the bus lost or reordered something (another instance, a Redis
    // outage): re-read from the database instead of trusting the live queue.
    let lastSeen: number | null = null;
    const unsubscribe = bus.subscribe(
      agentEventsChannel,
      (envelope) => {
        const gap = lastSeen !== null && envelope.id !== lastSeen + 1;
        lastSeen = lastSeen === null ? envelope.id : Math.max(lastSeen, envelope.id);
        if (gap) queue.invalidate();
        else if (visible(envelope)) queue.push({ envelope, receivedAt: performance.now() });
      },
      { onResync: () => queue.invalidate() },
    );
    const toTracked = (e: AgentEventEnvelope) => tracked(String(e.id), e);
    try {
      const top = await db.event.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
      const newestId = top?.id ?? 0;
      lastSeen ??= newestId;
      const requested = opts.lastEventId != null && /^\d{1,15}$/.test(opts.lastEventId) ? Number(opts.lastEventId) : null;
      let cursor = newestId;

      const catchUp = async function* (this: AgentEventLog): AsyncGenerator<TrackedEnvelope<AgentEventEnvelope>> {
        for (;;) {
          const latest = await db.event.findFirst({ orderBy: { id: "desc" }, select: { id: true } });
          const rows = await db.event.findMany({
            where: { AND: [this.where(opts, latest?.id ?? 0), { id: { gt: cursor } }] },
            orderBy: { id: "asc" },
            take: PAGE,
          });
          for (const row of rows) {
            cursor = row.id;
            const envelope = this.toEnvelope(row);
            if (envelope) yield toTracked(envelope);
          }
          if (rows.length < PAGE || signal?.aborted) return;
        }
      }.bind(this);

      if (requested !== null && requested <= newestId) {
        cursor = requested;
        yield* catchUp();
      } else if (opts.replay > 0) {
        const rows = await db.event.findMany({
          where: { AND: [this.where(opts, newestId), { id: { lte: newestId } }] },
          orderBy: { id: "desc" },
          take: opts.replay,
        });
        for (const row of rows.reverse()) {
          const envelope = this.toEnvelope(row);
          if (envelope) yield toTracked(envelope);
        }
      }

      while (!signal?.aborted) {
        const next = await queue.take(signal);
        if (next.kind === "closed") return;
        if (next.kind === "overflow") {
          yield* catchUp();
          continue;
        }
        const { envelope, receivedAt } = next.value;
        if (envelope.id <= cursor) continue;
        cursor = envelope.id;
        this.deps.stats.deliveredLive(receivedAt);
        yield toTracked(envelope);
      }
    } finally {
      unsubscribe();
      queue.close();
    }
  }

  /**
   * Emit a realistic voice-agent turn in the background (speech to text, an
   * LLM streaming tokens with a tool call in the middle, text to speech, a
   * latency trace), `delayMs` apart. Returns at once.
   */
  demoFlow(opts: { sessionId: string | undefined; delayMs: number; source: string }): { flowId: string; eventCount: number } {
    const flowId = randomUUID().slice(0, 8);
    const steps = demoTurn(flowId);
    const controller = new AbortController();
    this.flows.add(controller);
    const run = async () => {
      for (const event of steps) {
        await sleep(opts.delayMs, undefined, { signal: controller.signal, ref: false });
        await this.publish({ ...event, sessionId: opts.sessionId }, opts.source);
      }
    };
    run()
      .catch((error: unknown) => {
        if (!controller.signal.aborted) this.deps.log.warn({ err: error, flowId }, "demo flow stopped");
      })
      .finally(() => this.flows.delete(controller));
    return { flowId, eventCount: steps.length };
  }
}

/** One voice-agent turn: "What's the weather in Paris?" */
function demoTurn(id: string): AgentEvent[] {
  const stt = `stt-${id}`;
  const llm = `llm-${id}`;
  const tts = `tts-${id}`;
  const call = `call-${id}`;
  const question = "What's the weather in Paris tomorrow?";
  const answer = ["Tomorrow", " in", " Paris", " expect", " light", " rain", " and", " 14", "°C", "; take", " an", " umbrella."];
  const events: AgentEvent[] = [
    { type: "agent.progress", data: { taskId: id, step: "listen", percent: 0, message: "listening" } },
    { type: "stt.start", data: { streamId: stt, language: "en", sampleRate: 16_000 } },
    { type: "stt.progress", data: { streamId: stt, text: "What's the", confidence: 0.71 } },
    { type: "stt.progress", data: { streamId: stt, text: "What's the weather in", confidence: 0.83 } },
    { type: "stt.result", data: { streamId: stt, text: question, confidence: 0.95, durationMs: 1_840 } },
    { type: "memory.recall", data: { query: "user location preferences", results: [{ key: "units", score: 0.92, value: "metric" }] } },
    { type: "agent.progress", data: { taskId: id, step: "think", percent: 25, message: "asking the model" } },
    { type: "llm.start", data: { streamId: llm, model: "parley-demo-1", provider: "builtin", promptTokens: 182 } },
    { type: "tool.call", data: { callId: call, name: "get_weather", arguments: { city: "Paris", day: "tomorrow" } } },
    { type: "tool.result", data: { callId: call, name: "get_weather", result: { summary: "light rain", highC: 14 }, durationMs: 212 } },
  ];
  let tokens = 0;
  for (const delta of answer) {
    tokens++;
    events.push({ type: "llm.progress", data: { streamId: llm, delta, tokens } });
  }
  events.push(
    {
      type: "llm.result",
      data: {
        streamId: llm,
        text: answer.join(""),
        model: "parley-demo-1",
        promptTokens: 182,
        completionTokens: tokens,
        ttftMs: 310,
        durationMs: 1_260,
        finishReason: "stop",
      },
    },
    { type: "agent.progress", data: { taskId: id, step: "speak", percent: 75, message: "speaking the answer" } },
    { type: "tts.start", data: { streamId: tts, voice: "alloy", text: answer.join("") } },
    { type: "tts.progress", data: { streamId: tts, chunk: 1, audioMs: 900 } },
    { type: "tts.progress", data: { streamId: tts, chunk: 2, audioMs: 1_850 } },
    { type: "tts.result", data: { streamId: tts, audioMs: 2_600, durationMs: 640 } },
    { type: "memory.store", data: { key: "last_city", namespace: "user", value: "Paris" } },
    {
      type: "latency.trace",
      data: {
        traceId: id,
        totalMs: 3_950,
        spans: [
          { name: "stt", startMs: 0, durationMs: 1_840 },
          { name: "llm.ttft", startMs: 1_840, durationMs: 310 },
          { name: "tool.get_weather", startMs: 1_950, durationMs: 212 },
          { name: "llm", startMs: 1_840, durationMs: 1_260 },
          { name: "tts", startMs: 3_100, durationMs: 640 },
        ],
      },
    },
    { type: "agent.progress", data: { taskId: id, step: "done", percent: 100, message: "turn complete" } },
  );
  return events;
}
