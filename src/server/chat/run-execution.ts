// Executing a chat run: the provider request (started early, from inside the
// transaction that stores the run's answer), the answer's text as it streams
// (published on the session channel for session.events and on the run's own
// channel for chat.run, on every instance), and the final answer persisted
// with its metadata (model, tokens, time to first token, duration, finish
// reason). A run has its own AbortController and outlives every reader;
// CHAT_RUN_TIMEOUT_MS ends it with status error.
import type { Logger } from "pino";
import type { Message, MessageStatus, Prisma } from "../../generated/prisma/client";
import type { FinishReason, RunMetadata } from "../../shared/chat";
import type { SessionEventEnvelope } from "../../shared/events";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import type { Config } from "../env";
import type { SessionLog } from "../services/session-log";
import type { AgentConfig } from "./agents";
import type { ProviderRegistry } from "./providers";
import { ProviderError, type ChatProvider, type ChatTurn, type CompletionChunk, type CompletionRequest } from "./providers/provider";
import { RunEvents, type TypedEventSink } from "./run-events";
import { chatRunChannel, type ChatRun, type RunStore } from "./run-store";

/** What a finished run reports to the metrics. */
export interface RunFigures {
  ttftMs: number | null;
  tokensPerSecond: number | null;
}

/**
 * A completion whose request is on its way: the first chunk is asked for at
 * once (which sends the request), the rest as the run reads them. Lets a run's
 * request start before the run is registered; its deltas are still published
 * only by the run.
 */
export class StartedCompletion {
  readonly startedAt = performance.now();
  private readonly chunks: AsyncIterator<CompletionChunk>;
  private first: Promise<IteratorResult<CompletionChunk>> | null;

  constructor(
    provider: ChatProvider,
    request: Omit<CompletionRequest, "signal">,
    /** Aborting it closes the upstream request (the run's controller). */
    readonly controller: AbortController,
  ) {
    this.chunks = provider.stream({ ...request, signal: controller.signal })[Symbol.asyncIterator]();
    this.first = this.chunks.next();
    // Observed by the first next(), or dropped by cancel(): never an unhandled rejection meanwhile.
    this.first.catch(() => undefined);
  }

  next(): Promise<IteratorResult<CompletionChunk>> {
    const first = this.first;
    this.first = null;
    return first ?? this.chunks.next();
  }

  /** What leaving a `for await` does: the provider's stream ends and closes its connection (a no-op once it has ended). */
  async close(): Promise<void> {
    await this.chunks.return?.();
  }

  /** The run will not happen (its question was not stored): abort the request. */
  cancel(reason: Error) {
    this.controller.abort(reason);
    this.close().catch(() => undefined);
  }
}

/** What a run needs to execute (ChatRunDeps in runs.ts adds the memories a run is told). */
export interface RunExecutorDeps {
  db: Db;
  bus: Bus;
  sessionLog: SessionLog;
  log: Logger;
  config: Config;
  providers: ProviderRegistry;
  /** Where runs publish their typed events (llm.*, latency.trace); none without it. */
  typedEvents?: TypedEventSink;
}

export class RunExecutor {
  private readonly finishedListeners = new Set<(figures: RunFigures) => void>();

  constructor(
    private readonly deps: RunExecutorDeps & { runs: RunStore },
  ) {}

  /** Called with each finished run's time to first token and tokens/s (metrics). */
  onFinished(listener: (figures: RunFigures) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /**
   * What the provider is sent: the asker's visible complete messages up to the
   * question. Read inside the transaction that stores the run's answer (the
   * question's seq is known there), so the request can start before it
   * commits (startEarly), with no database round trip after it. `memoryText`
   * (the run's memory context) follows the agent's system prompt.
   */
  async history(
    tx: Prisma.TransactionClient,
    sessionId: string,
    questionSeq: number,
    agent: AgentConfig,
    scope: Prisma.MessageWhereInput,
    memoryText?: string | null,
  ): Promise<ChatTurn[]> {
    const rows = await tx.message.findMany({
      where: {
        sessionId,
        seq: { lte: questionSeq },
        status: "complete",
        role: { in: ["user", "assistant", "system"] },
        AND: [scope],
      },
      orderBy: { seq: "desc" },
      take: this.deps.config.CHAT_HISTORY_MESSAGES,
      select: { id: true, role: true, content: true, parentId: true },
    });
    // Of regenerated siblings, only the newest answer stays in the context.
    const answered = new Set<string>();
    const turns: ChatTurn[] = [];
    for (const row of rows) {
      if (row.role === "assistant" && row.parentId) {
        if (answered.has(row.parentId)) continue;
        answered.add(row.parentId);
      }
      turns.push({ role: row.role as ChatTurn["role"], content: row.content });
    }
    turns.reverse();
    if (memoryText) turns.unshift({ role: "system", content: memoryText });
    if (agent.systemPrompt) turns.unshift({ role: "system", content: agent.systemPrompt });
    return turns;
  }

  /**
   * The provider request of a run about to be stored, sent from inside the
   * transaction that stores it, once the question and the history are known:
   * the request then travels while the created events are written and
   * committed. Null for a provider that reads the database (the built-in
   * assistant), whose request starts with the run.
   */
  startEarly(agent: AgentConfig, messages: ChatTurn[], sessionId: string, questionMessageId: string, scope: Prisma.MessageWhereInput): StartedCompletion | null {
    const provider = this.deps.providers.get(agent.provider);
    if (!provider || provider.readsDatabase) return null;
    const request = { model: agent.model, messages, temperature: agent.temperature, sessionId, questionMessageId, scope };
    return new StartedCompletion(provider, request, new AbortController());
  }

  /** Register the run (synchronously, before publishing), publish its created events, start streaming. */
  launch(run: ChatRun, assistant: Message, envelopes: SessionEventEnvelope[], history: ChatTurn[], early: StartedCompletion | null): void {
    this.deps.runs.add(run);
    this.deps.sessionLog.publish(assistant.sessionId, envelopes);
    run.finished = this.execute(run, assistant, history, early);
  }

  /** Publish the run's text so far on its channel (a reader on another instance asked for it). */
  publishSnapshot(run: ChatRun): void {
    this.deps.bus.publish(run.channel, { type: "text", offset: 0, text: run.text });
  }

  private appendText(run: ChatRun, text: string) {
    const offset = run.text.length;
    run.text += text;
    this.deps.sessionLog.publishText(run.sessionId, { type: "chat.delta", runId: run.id, messageId: run.messageId, offset, text });
    this.deps.bus.publish(run.channel, { type: "text", offset, text });
  }

  private async execute(run: ChatRun, assistant: Message, messages: ChatTurn[], early: StartedCompletion | null): Promise<Message | null> {
    const { config, providers } = this.deps;
    const log = this.deps.log.child({ runId: run.id, sessionId: run.sessionId, provider: run.agent.provider, model: run.agent.model });
    /** When the provider request started: time to first token and duration count from it. */
    let started = early?.startedAt ?? performance.now();
    let ttftMs: number | null = null;
    let chunks = 0;
    let end: Extract<CompletionChunk, { type: "end" }> | null = null;
    let failure: string | null = null;
    const timeout = setTimeout(() => run.abort("timeout"), config.CHAT_RUN_TIMEOUT_MS);
    let completion = early;
    const events = this.deps.typedEvents ? new RunEvents(run, this.deps.typedEvents, log, config.CHAT_TOKEN_EVENT_MS) : null;
    events?.start();
    try {
      if (!completion) {
        const provider = providers.get(run.agent.provider);
        if (!provider) throw new ProviderError(`provider "${run.agent.provider}" is not configured`);
        const request = {
          model: run.agent.model,
          messages,
          temperature: run.agent.temperature,
          sessionId: run.sessionId,
          questionMessageId: assistant.parentId ?? "",
          scope: run.scope,
        };
        completion = new StartedCompletion(provider, request, run.controller);
        started = completion.startedAt;
      }
      for (let next = await completion.next(); !next.done; next = await completion.next()) {
        const chunk = next.value;
        if (run.controller.signal.aborted) break;
        if (chunk.type === "end") {
          end = chunk;
          continue;
        }
        if (!chunk.text) continue;
        ttftMs ??= performance.now() - started;
        chunks++;
        this.appendText(run, chunk.text);
        events?.token(chunk.text);
      }
    } catch (error) {
      if (!run.controller.signal.aborted) {
        if (error instanceof ProviderError) {
          failure = error.message;
          log.warn({ reason: error.message }, "chat run failed at the provider");
        } else {
          failure = `internal error: ${error instanceof Error ? error.message : String(error)}`;
          log.error({ err: error }, "chat run failed");
        }
      }
    } finally {
      clearTimeout(timeout);
      await completion?.close().catch(() => undefined);
    }

    const durationMs = performance.now() - started;
    let status: MessageStatus;
    let finishReason: FinishReason;
    if (run.abortCause === "stopped") {
      status = "stopped";
      finishReason = "stopped";
    } else if (run.abortCause === "timeout") {
      status = "error";
      finishReason = "error";
      failure = `timed out after ${config.CHAT_RUN_TIMEOUT_MS} ms (CHAT_RUN_TIMEOUT_MS)`;
    } else if (run.abortCause === "shutdown") {
      status = "error";
      finishReason = "error";
      failure = "interrupted: the server shut down";
    } else if (failure !== null || end === null) {
      status = "error";
      finishReason = "error";
      failure ??= "the provider ended the stream without finishing";
    } else {
      status = "complete";
      finishReason = end.finishReason;
    }
    const usage = end?.usage ?? null;
    const completionTokens = usage?.completionTokens ?? chunks;
    const streamingSeconds = ttftMs === null ? 0 : (durationMs - ttftMs) / 1000;
    const metadata: RunMetadata = {
      ...objectOf(assistant.metadata),
      runId: run.id,
      agentId: run.agent.id,
      agentName: run.agent.name,
      provider: run.agent.provider,
      model: run.agent.model,
      ttftMs: ttftMs === null ? null : round(ttftMs),
      durationMs: round(durationMs),
      promptTokens: usage?.promptTokens ?? null,
      completionTokens,
      tokensPerSecond:
        usage?.tokensPerSecond != null ? round(usage.tokensPerSecond) : streamingSeconds > 0 ? round(completionTokens / streamingSeconds) : null,
      finishReason,
      providerFinishReason: end?.providerFinishReason ?? null,
      usageSource: usage?.completionTokens != null ? "provider" : "estimated",
      ...(failure !== null ? { error: failure } : {}),
    };
    // A stopped answer is complete as far as it went; only a failure is an llm.error.
    events?.end(metadata, run.text, status === "error" ? (failure ?? "error") : null);
    const message = await this.persistFinal(run, status, metadata).catch((error: unknown) => {
      log.error({ err: error }, "could not save the finished answer; it stays streaming until the next start marks it interrupted");
      return null;
    });
    this.deps.runs.remove(run);
    this.deps.bus.publish(run.channel, { type: "done", message });
    log.info({ status, finishReason, durationMs: metadata.durationMs, chars: run.text.length }, "chat run finished");
    for (const listener of this.finishedListeners) listener({ ttftMs: metadata.ttftMs ?? null, tokensPerSecond: metadata.tokensPerSecond ?? null });
    return message;
  }

  private async persistFinal(run: ChatRun, status: MessageStatus, metadata: RunMetadata): Promise<Message> {
    const { db, sessionLog } = this.deps;
    const { message, envelopes } = await db.$transaction(async (tx) => {
      const message = await tx.message.update({ where: { id: run.messageId }, data: { content: run.text, status, metadata } });
      return { message, envelopes: await sessionLog.append(tx, run.sessionId, [{ type: "message.updated", message }]) };
    });
    // Leave the runs before publishing: a subscriber that sees message.updated gets no later snapshot.
    this.deps.runs.remove(run);
    sessionLog.publish(run.sessionId, envelopes);
    return message;
  }

  /** Start-up: a run left `streaming` by a crash ends as `error` ("interrupted"), with a message.updated event, and `done` on its channel. */
  async markInterrupted(message: Pick<Message, "id" | "sessionId" | "metadata">, runId: string | null): Promise<void> {
    const { db, sessionLog, bus } = this.deps;
    const metadata = { ...objectOf(message.metadata), finishReason: "error", error: "interrupted" };
    const { updated, envelopes } = await db.$transaction(async (tx) => {
      const updated = await tx.message.update({ where: { id: message.id }, data: { status: "error", metadata } });
      return { updated, envelopes: await sessionLog.append(tx, message.sessionId, [{ type: "message.updated", message: updated }]) };
    });
    sessionLog.publish(message.sessionId, envelopes);
    if (runId) bus.publish(chatRunChannel(runId), { type: "done", message: updated });
  }
}

export function objectOf(value: Prisma.JsonValue): Record<string, Prisma.JsonValue> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, Prisma.JsonValue>) : {};
}

const round = (n: number) => Math.round(n * 10) / 10;
