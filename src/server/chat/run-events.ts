// A chat run as typed agent events (events.subscribe, the Events page): one
// `llm.start`, `llm.token` at most every CHAT_TOKEN_EVENT_MS (the text and the
// token count since the previous one, never one event per token), then
// `llm.complete` or `llm.error`, and a `latency.trace` of where the turn's
// time went. The events carry the run's session; an answer that is not public
// is addressed to its asker only. Publishing never holds up or fails a run.
import type { Logger } from "pino";
import type { z } from "zod";
import type { RunMetadata } from "../../shared/chat";
import type { AgentEvent, agentEventPublishInput } from "../../shared/agent-events";
import type { ChatRun } from "./run-store";

/** Where typed events go (services/agent-events.ts AgentEventLog). */
export interface TypedEventSink {
  publish(input: z.output<typeof agentEventPublishInput>, source: string): Promise<unknown>;
}

/** The typed events of one run. */
export class RunEvents {
  private pending = "";
  private pendingTokens = 0;
  private tokens = 0;
  private lastTokenEventAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly run: ChatRun,
    private readonly sink: TypedEventSink,
    private readonly log: Logger,
    private readonly tokenEventMs: number,
  ) {}

  start(): void {
    const { agent } = this.run;
    this.publish({ type: "llm.start", data: { streamId: this.run.id, model: agent.model, provider: agent.provider } });
  }

  /** One chunk of text; sent as an `llm.token` when the last one is old enough. */
  token(text: string, now = performance.now()): void {
    this.pending += text;
    this.pendingTokens++;
    this.tokens++;
    if (now - this.lastTokenEventAt < this.tokenEventMs) return;
    this.flushTokens(now);
  }

  /** The run ended: the last tokens, `llm.complete` or `llm.error`, and the latency trace. */
  end(metadata: RunMetadata, text: string, failure: string | null): void {
    if (this.pendingTokens > 0) this.flushTokens(performance.now());
    const streamId = this.run.id;
    const durationMs = metadata.durationMs ?? 0;
    const ttftMs = metadata.ttftMs ?? null;
    if (failure === null) {
      this.publish({
        type: "llm.complete",
        data: {
          streamId,
          text,
          model: metadata.model,
          ...(metadata.promptTokens != null ? { promptTokens: metadata.promptTokens } : {}),
          ...(metadata.completionTokens != null ? { completionTokens: metadata.completionTokens } : {}),
          ...(ttftMs !== null ? { ttftMs } : {}),
          durationMs,
          finishReason: metadata.finishReason ?? undefined,
        },
      });
    } else {
      this.publish({ type: "llm.error", data: { streamId, message: failure.slice(0, 2_000), code: metadata.finishReason ?? "error" } });
    }
    const spans = [{ name: "llm", startMs: 0, durationMs }];
    if (ttftMs !== null) spans.unshift({ name: "llm.ttft", startMs: 0, durationMs: ttftMs });
    this.publish({ type: "latency.trace", data: { traceId: streamId, totalMs: durationMs, spans } });
  }

  private flushTokens(now: number) {
    this.lastTokenEventAt = now;
    const delta = this.pending.slice(0, 10_000);
    this.publish({ type: "llm.token", data: { streamId: this.run.id, delta, tokens: this.tokens, index: this.tokens - this.pendingTokens } });
    this.pending = "";
    this.pendingTokens = 0;
  }

  private publish(event: AgentEvent) {
    const to = this.run.visibility === "public" || this.run.authorId === null ? undefined : this.run.authorId;
    this.sink.publish({ ...event, sessionId: this.run.sessionId, ...(to ? { to } : {}) }, `agent:${this.run.agent.name}`).catch((error: unknown) => {
      this.log.debug({ err: error, type: event.type }, "a run's typed event was not published");
    });
  }
}
