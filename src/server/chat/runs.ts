// Chat runs: server-owned jobs that stream one assistant answer from a
// provider. A run has its own AbortController and outlives every subscriber;
// it publishes deltas on the session's chat channel, keeps its text so far for
// late subscribers (snapshots), and persists the final message with metadata.
// Limits: CHAT_MAX_RUNS_PER_SESSION (CONFLICT), CHAT_MAX_CONCURRENT_RUNS
// (TOO_MANY_REQUESTS), CHAT_RUN_TIMEOUT_MS (the run ends with status error).
import { randomUUID } from "node:crypto";
import { tracked, TRPCError, type TrackedEnvelope } from "@trpc/server";
import type { Logger } from "pino";
import { z } from "zod";
import type { Message, MessageStatus, Prisma, Visibility } from "../../generated/prisma/client";
import { runIdOf, type ChatRunEvent, type FinishReason, type RunMetadata, type chatRegenerateInput, type chatSendInput } from "../../shared/chat";
import { SLOT_RETRY_AFTER_MS, tooManyRequests } from "../auth/limits";
import { channel, type Bus } from "../bus/bus";
import type { Db } from "../db";
import { isPostgresUrl, type Config } from "../env";
import { BoundedQueue } from "../services/bounded-queue";
import { inSession, isUniqueViolation, sessionNotFound } from "../services/errors";
import {
  sessionChannel,
  writeSessionEvent,
  type ActiveRunSnapshot,
  type ActiveRunSource,
} from "../services/session-events";
import { resolveAgent, type AgentConfig } from "./agents";
import type { ProviderRegistry } from "./providers";
import { ProviderError, type ChatProvider, type ChatTurn, type CompletionChunk, type CompletionRequest } from "./providers/provider";
import { instanceName } from "../cluster/members";

export interface ChatRunDeps {
  db: Db;
  bus: Bus;
  log: Logger;
  config: Config;
  providers: ProviderRegistry;
  /** Memories a run's provider is told (a system turn after the agent's prompt; their ids go in the run's metadata). */
  memoryContext?: RunMemoryContext;
}

/** The memory context of a run about to start: a system turn (null: none) and the memory ids it quotes. */
export type RunMemoryContext = (run: { sessionId: string; agent: AgentConfig; question: string }) => Promise<{ text: string | null; ids: string[] } | null>;

type AbortCause = "stopped" | "timeout" | "shutdown";

/** What one run's listeners receive. */
type RunSignal = { type: "delta"; offset: number; text: string } | { type: "done"; message: Message | null };

/** Folds `next` into `last` when both are deltas and `next` continues `last` exactly. */
function mergeRunSignals(last: RunSignal, next: RunSignal): RunSignal | null {
  if (last.type !== "delta" || next.type !== "delta") return null;
  if (last.offset + last.text.length !== next.offset) return null;
  return { type: "delta", offset: last.offset, text: last.text + next.text };
}

/**
 * Issue 6: who asks. The question and its answer carry `authorId`; the answer
 * inherits the question's visibility; `scope` limits what the run reads
 * (history sent to the provider, the built-in assistant's retrieval) to the
 * messages the asker may see.
 */
export interface RunAsker {
  authorId: string | null;
  scope: Prisma.MessageWhereInput;
}
const OPEN_ASKER: RunAsker = { authorId: null, scope: {} };

/** What `chat.send` answers: the stored question, its answer's id and the run streaming it. */
export interface ChatSendResult {
  userMessage: Message;
  assistantMessageId: string;
  runId: string;
}

/**
 * A completion whose request is on its way: the first chunk is asked for at
 * once (which sends the request), the rest as the run reads them. Lets a run's
 * request start before the run is registered; its deltas are still published
 * only by the run.
 */
class StartedCompletion {
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

class ChatRun {
  text = "";
  abortCause: AbortCause | null = null;
  readonly listeners = new Set<(signal: RunSignal) => void>();
  finished!: Promise<Message | null>;
  /** Issue 6: what the run may read (history, retrieval): the asker's visible messages. */
  scope: Prisma.MessageWhereInput = {};
  /** Issue 6: the answer's audience, inherited from its question. */
  visibility: Visibility = "public";
  authorId: string | null = null;

  constructor(
    readonly id: string,
    readonly sessionId: string,
    readonly messageId: string,
    readonly createdEventSeq: number,
    readonly agent: AgentConfig,
    /** Aborts the provider request; a request started before the run came with its own. */
    readonly controller = new AbortController(),
  ) {}

  abort(cause: AbortCause) {
    if (this.controller.signal.aborted) return;
    this.abortCause = cause;
    this.controller.abort(new Error(`run ${cause}`));
  }

  emit(signal: RunSignal) {
    // Per token: no copy of the listener set when nobody follows the run (chat.run).
    if (this.listeners.size === 0) return;
    for (const listener of [...this.listeners]) listener(signal);
  }
}

/** How long `chat.stop` waits for another instance to stop its run. */
const STOP_ELSEWHERE_WAIT_MS = 10_000;
/** A streaming answer this much older than CHAT_RUN_TIMEOUT_MS has no live owner. */
const ABANDONED_MARGIN_MS = 60_000;

/** Commands to whichever instance executes a run. */
export const chatControlChannel = channel<{ type: "stop"; runId: string }>("chat:control");

/** Finished runs remembered in memory for `chat.run` (older ones are found in the database). */
const RECENT_RUNS = 1_000;

export class ChatRunRegistry implements ActiveRunSource {
  private readonly runs = new Map<string, ChatRun>();
  private readonly recent = new Map<string, string>();
  /** Sends with a clientKey still in progress here (`sessionId clientKey`): a concurrent retry waits for the first. */
  private readonly keyedSends = new Map<string, Promise<ChatSendResult>>();
  /** Slots taken by sends that are still persisting, per session, so limits hold under concurrency. */
  private readonly reserved = new Map<string, number>();
  private reservedTotal = 0;
  private closing = false;
  private readonly finishedListeners = new Set<(figures: { ttftMs: number | null; tokensPerSecond: number | null }) => void>();

  /** This server's name among instances (PARLEY_INSTANCE, else host:PORT). */
  readonly instance: string;
  private readonly stopListener: () => void;

  constructor(private readonly deps: ChatRunDeps) {
    this.instance = instanceName(deps.config, deps.config.PORT);
    // A chat.stop received by another instance reaches the one executing the run
    // (only a shared bus has other instances).
    this.stopListener = deps.config.REDIS_URL
      ? deps.bus.subscribe(chatControlChannel, (command) => {
          this.runs.get(command.runId)?.abort("stopped");
        })
      : () => undefined;
  }

  /** Called with each finished run's time to first token and tokens/s (metrics). */
  onRunFinished(listener: (figures: { ttftMs: number | null; tokensPerSecond: number | null }) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** The providers this server can use (agents name one of them). */
  get providers(): ProviderRegistry {
    return this.deps.providers;
  }

  /** Runs streaming now. */
  get activeCount(): number {
    return this.runs.size;
  }

  activeRuns(sessionId: string): ActiveRunSnapshot[] {
    const out: ActiveRunSnapshot[] = [];
    for (const run of this.runs.values()) {
      if (run.sessionId === sessionId) {
        out.push({
          runId: run.id,
          messageId: run.messageId,
          createdEventSeq: run.createdEventSeq,
          text: run.text,
          visibility: run.visibility,
          authorId: run.authorId,
        });
      }
    }
    return out;
  }

  /**
   * Persist the user message and a `streaming` answer, start the run. With a
   * `clientKey` already used in the session, nothing is written and no run
   * starts: the stored question, its first answer and that answer's run are
   * returned (also to a concurrent duplicate, here or on another instance).
   */
  async send(
    input: z.output<typeof chatSendInput>,
    asker: RunAsker = OPEN_ASKER,
    /** Takes the caller's run slot (CHAT_MAX_RUNS_PER_PRINCIPAL) only when a new run starts; returns its release. */
    takeSlot: () => () => void = () => () => undefined,
  ): Promise<ChatSendResult> {
    const key = input.clientKey;
    if (key === undefined) return this.startHoldingSlot(input, asker, takeSlot);
    const slot = `${input.sessionId} ${key}`;
    const inFlight = this.keyedSends.get(slot);
    if (inFlight) return inFlight;
    const sending = (async () => {
      const stored = await this.sentWithKey(input.sessionId, key);
      if (stored) return stored;
      try {
        return await this.startHoldingSlot(input, asker, takeSlot);
      } catch (error) {
        // Another instance stored the key between our look-up and our insert.
        if (!isUniqueViolation(error)) throw error;
        const raced = await this.sentWithKey(input.sessionId, key);
        if (!raced) throw error;
        return raced;
      }
    })();
    this.keyedSends.set(slot, sending);
    try {
      return await sending;
    } finally {
      this.keyedSends.delete(slot);
    }
  }

  /** What `send` returned for the question stored under `clientKey`, or null when the key is unused. */
  private async sentWithKey(sessionId: string, clientKey: string): Promise<ChatSendResult | null> {
    const { db } = this.deps;
    const userMessage = await db.message.findFirst({ where: { sessionId, clientKey } });
    if (!userMessage) return null;
    const answer = await db.message.findFirst({
      where: { sessionId, parentId: userMessage.id, role: "assistant" },
      orderBy: { seq: "asc" },
      select: { id: true, metadata: true },
    });
    const runId = answer ? runIdOf(answer) : null;
    if (!answer || !runId) {
      throw new TRPCError({
        code: "CONFLICT",
        message: `clientKey ${clientKey} is already used in session ${sessionId} by message ${userMessage.id}, which was posted without chat.send; use a new key for a new question`,
      });
    }
    return { userMessage, assistantMessageId: answer.id, runId };
  }

  /** A new question and run; the slot is held until the run finishes. */
  private async startHoldingSlot(
    input: z.output<typeof chatSendInput>,
    asker: RunAsker,
    takeSlot: () => () => void,
  ): Promise<ChatSendResult> {
    const release = takeSlot();
    try {
      const sent = await this.sendOnce(input, asker);
      void this.whenFinished(sent.runId).finally(release);
      return sent;
    } catch (error) {
      release();
      throw error;
    }
  }

  private async sendOnce(input: z.output<typeof chatSendInput>, asker: RunAsker): Promise<ChatSendResult> {
    const { db, config } = this.deps;
    const bytes = Buffer.byteLength(input.content, "utf8");
    if (bytes > config.MESSAGE_MAX_BYTES) {
      throw new TRPCError({
        code: "PAYLOAD_TOO_LARGE",
        message: `content is ${bytes} bytes; the limit is ${config.MESSAGE_MAX_BYTES} bytes (MESSAGE_MAX_BYTES)`,
      });
    }
    // A named agent does not depend on the session's default: look both up at once.
    const sessionRead = db.session.findUnique({ where: { id: input.sessionId }, select: { defaultAgentId: true } });
    const namedAgent = input.agentId === undefined ? null : this.agentFor(input.agentId, null);
    namedAgent?.catch(() => undefined); // awaited below, after the session check
    const session = await sessionRead;
    if (!session) throw sessionNotFound(input.sessionId);
    const agent = await (namedAgent ?? this.agentFor(undefined, session.defaultAgentId));
    const memory = (await this.deps.memoryContext?.({ sessionId: input.sessionId, agent, question: input.content })) ?? null;
    const release = this.reserve(input.sessionId);
    /** The provider request, once sent from inside the transaction (cancelled if the transaction fails). */
    const early: { completion: StartedCompletion | null } = { completion: null };
    try {
      const runId = `run_${randomUUID()}`;
      const { userMessage, assistant, envelopes, history } = await inSession(input.sessionId, () =>
        db.$transaction(async (tx) => {
          const counters = await tx.session.update({
            where: { id: input.sessionId },
            data: { lastSeq: { increment: 2 }, lastEventSeq: { increment: 2 } },
            select: { lastSeq: true, lastEventSeq: true },
          });
          const userMessage = await tx.message.create({
            data: {
              sessionId: input.sessionId,
              seq: counters.lastSeq - 1,
              role: "user",
              author: input.author,
              authorId: asker.authorId,
              visibility: input.visibility,
              content: input.content,
              metadata: {},
              clientKey: input.clientKey ?? null,
            },
          });
          const assistant = await tx.message.create({
            data: this.assistantData(input.sessionId, counters.lastSeq, userMessage, runId, agent, memory?.ids),
          });
          const history = await this.history(tx, input.sessionId, userMessage.seq, agent, asker.scope, memory?.text);
          early.completion = this.startEarly(agent, history, input.sessionId, userMessage.id, asker.scope);
          const envelopes = [
            await writeSessionEvent(tx, input.sessionId, counters.lastEventSeq - 1, { type: "message.created", message: userMessage }),
            await writeSessionEvent(tx, input.sessionId, counters.lastEventSeq, { type: "message.created", message: assistant }),
          ];
          return { userMessage, assistant, envelopes, history };
        }),
      );
      this.launch(runId, assistant, envelopes.at(-1)?.seq ?? 0, agent, envelopes, asker.scope, history, early.completion);
      return { userMessage, assistantMessageId: assistant.id, runId };
    } catch (error) {
      early.completion?.cancel(new Error("the question was not stored"));
      throw error;
    } finally {
      release();
    }
  }

  /** Answer the same question again: a new assistant message, sibling of the old one (same parentId). */
  async regenerate(input: z.output<typeof chatRegenerateInput>, asker: RunAsker = OPEN_ASKER) {
    const { db } = this.deps;
    const target = await db.message.findUnique({ where: { id: input.messageId } });
    if (!target) throw new TRPCError({ code: "NOT_FOUND", message: `message ${input.messageId} does not exist` });
    let parent: Message | null = target;
    if (target.role !== "user") {
      if (!target.parentId) {
        throw new TRPCError({
          code: "BAD_REQUEST",
          message: `message ${target.id} is not an answer to a question (no parentId); regenerate takes an assistant answer or a user message`,
        });
      }
      parent = await db.message.findUnique({ where: { id: target.parentId } });
      if (!parent) throw new TRPCError({ code: "NOT_FOUND", message: `the question ${target.parentId} this answer replied to no longer exists` });
    }
    const session = await db.session.findUnique({ where: { id: parent.sessionId }, select: { defaultAgentId: true } });
    if (!session) throw sessionNotFound(parent.sessionId);
    const previousAgentId = target.role === "user" ? undefined : agentIdOf(target);
    const agent = await this.agentFor(input.agentId ?? previousAgentId ?? undefined, session.defaultAgentId, input.agentId === undefined);
    const question = parent;
    const memory = (await this.deps.memoryContext?.({ sessionId: question.sessionId, agent, question: question.content })) ?? null;
    const release = this.reserve(question.sessionId);
    /** The provider request, once sent from inside the transaction (cancelled if the transaction fails). */
    const early: { completion: StartedCompletion | null } = { completion: null };
    try {
      const runId = `run_${randomUUID()}`;
      const { assistant, envelope, history } = await inSession(question.sessionId, () =>
        db.$transaction(async (tx) => {
          const counters = await tx.session.update({
            where: { id: question.sessionId },
            data: { lastSeq: { increment: 1 }, lastEventSeq: { increment: 1 } },
            select: { lastSeq: true, lastEventSeq: true },
          });
          const assistant = await tx.message.create({
            data: this.assistantData(question.sessionId, counters.lastSeq, question, runId, agent, memory?.ids),
          });
          const history = await this.history(tx, question.sessionId, question.seq, agent, asker.scope, memory?.text);
          early.completion = this.startEarly(agent, history, question.sessionId, question.id, asker.scope);
          const envelope = await writeSessionEvent(tx, question.sessionId, counters.lastEventSeq, {
            type: "message.created",
            message: assistant,
          });
          return { assistant, envelope, history };
        }),
      );
      this.launch(runId, assistant, envelope.seq, agent, [envelope], asker.scope, history, early.completion);
      return { parentId: question.id, assistantMessageId: assistant.id, runId };
    } catch (error) {
      early.completion?.cancel(new Error("the answer was not stored"));
      throw error;
    } finally {
      release();
    }
  }

  /** Issue 6: where a run's answer lives and who may see it (active or finished); null when unknown. */
  async describeRun(runId: string): Promise<Pick<Message, "sessionId" | "visibility" | "authorId"> | null> {
    const run = this.runs.get(runId);
    if (run) return { sessionId: run.sessionId, visibility: run.visibility, authorId: run.authorId };
    const message = await this.findRunMessage(runId);
    return message ? { sessionId: message.sessionId, visibility: message.visibility, authorId: message.authorId } : null;
  }

  /** Issue 6: resolves when the run (on this instance) has finished; at once when it is not running here. */
  whenFinished(runId: string): Promise<unknown> {
    return this.runs.get(runId)?.finished.catch(() => undefined) ?? Promise.resolve();
  }

  /** Abort the run's upstream request and persist its partial text as `stopped`; resolves with the final message. */
  async stop(runId: string): Promise<Message> {
    const run = this.runs.get(runId);
    if (!run) {
      const message = await this.findRunMessage(runId);
      if (!message) throw new TRPCError({ code: "NOT_FOUND", message: `run ${runId} does not exist` });
      if (message.status !== "streaming") return message; // already finished: stopping is a no-op
      return this.stopElsewhere(runId, message.id);
    }
    run.abort("stopped");
    const message = await run.finished;
    if (!message) throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: `run ${runId} stopped but its message could not be saved` });
    return message;
  }

  /** The run executes on another instance: ask every instance to stop it, then wait for its final message. */
  private async stopElsewhere(runId: string, messageId: string): Promise<Message> {
    const { db, bus } = this.deps;
    bus.publish(chatControlChannel, { type: "stop", runId });
    const deadline = Date.now() + STOP_ELSEWHERE_WAIT_MS;
    for (;;) {
      const message = await db.message.findUnique({ where: { id: messageId } });
      if (!message || message.status !== "streaming") {
        if (!message) throw new TRPCError({ code: "NOT_FOUND", message: `run ${runId} does not exist` });
        return message;
      }
      if (Date.now() > deadline) {
        throw new TRPCError({
          code: "TIMEOUT",
          message: `run ${runId} runs on another instance that did not stop it within ${STOP_ELSEWHERE_WAIT_MS} ms; is that instance up?`,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /**
   * `chat.run`: the run's text after `lastEventId` (a text offset) in one
   * delta, then live deltas (merged for a slow consumer), then `done` with the
   * final message. Tracked ids are text offsets.
   */
  async *runStream(
    runId: string,
    lastEventId: string | null | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<TrackedEnvelope<ChatRunEvent>, void, unknown> {
    let covered = lastEventId && /^\d{1,15}$/.test(lastEventId) ? Number(lastEventId) : 0;
    const run = this.runs.get(runId);
    if (!run) {
      const message = await this.findRunMessage(runId);
      if (!message) throw new TRPCError({ code: "NOT_FOUND", message: `run ${runId} does not exist` });
      const text = message.content;
      if (covered > text.length) covered = 0;
      if (covered < text.length) {
        yield tracked(String(text.length), { type: "delta", runId, messageId: message.id, offset: covered, text: text.slice(covered) });
      }
      yield tracked(String(text.length), { type: "done", runId, message });
      return;
    }
    const queue = new BoundedQueue<RunSignal>(this.deps.config.SUBSCRIBER_QUEUE_LIMIT, mergeRunSignals);
    const listener = (s: RunSignal) => queue.push(s);
    run.listeners.add(listener);
    try {
      // A cursor ahead of the text cannot be ours: send everything (offset 0 tells the client to reset).
      if (covered > run.text.length) covered = 0;
      const head = run.text;
      if (covered < head.length) {
        yield tracked(String(head.length), { type: "delta", runId, messageId: run.messageId, offset: covered, text: head.slice(covered) });
        covered = head.length;
      }
      while (!signal?.aborted) {
        const next = await queue.take(signal);
        if (next.kind === "closed") return;
        if (next.kind === "overflow") {
          // Only a long run of non-mergeable items overflows; re-read the text.
          const text = run.text;
          if (covered < text.length) {
            yield tracked(String(text.length), { type: "delta", runId, messageId: run.messageId, offset: covered, text: text.slice(covered) });
            covered = text.length;
          }
          continue;
        }
        const item = next.value;
        if (item.type === "done") {
          if (item.message) yield tracked(String(item.message.content.length), { type: "done", runId, message: item.message });
          return;
        }
        const end = item.offset + item.text.length;
        if (end <= covered) continue;
        const text = item.text.slice(Math.max(0, covered - item.offset));
        yield tracked(String(end), { type: "delta", runId, messageId: run.messageId, offset: end - text.length, text });
        covered = end;
      }
    } finally {
      run.listeners.delete(listener);
      queue.close();
    }
  }

  /** Start-up: answers left `streaming` by a crash end as `error` ("interrupted"), with a message.updated event. */
  async recoverInterrupted(): Promise<number> {
    const { db, bus, log } = this.deps;
    const streaming = await db.message.findMany({
      where: { status: "streaming" },
      select: { id: true, sessionId: true, metadata: true, updatedAt: true },
    });
    // Alone (no shared bus), every streaming answer was ours. With several
    // instances (REDIS_URL), only this instance's runs, or runs older than any
    // run may live (their instance never came back), were interrupted.
    const abandonedBefore = Date.now() - this.deps.config.CHAT_RUN_TIMEOUT_MS - ABANDONED_MARGIN_MS;
    const shared = this.deps.config.REDIS_URL !== undefined;
    const stuck = streaming.filter((message) => {
      const owner = objectOf(message.metadata).instance;
      return !shared || owner === undefined || owner === this.instance || message.updatedAt.getTime() < abandonedBefore;
    });
    for (const message of stuck) {
      const metadata = { ...objectOf(message.metadata), finishReason: "error", error: "interrupted" };
      const { envelope } = await db.$transaction(async (tx) => {
        const counters = await tx.session.update({
          where: { id: message.sessionId },
          data: { lastEventSeq: { increment: 1 } },
          select: { lastEventSeq: true },
        });
        const updated = await tx.message.update({ where: { id: message.id }, data: { status: "error", metadata } });
        const envelope = await writeSessionEvent(tx, message.sessionId, counters.lastEventSeq, { type: "message.updated", message: updated });
        return { envelope };
      });
      bus.publish(sessionChannel(message.sessionId), envelope);
    }
    if (stuck.length > 0) log.warn({ count: stuck.length }, "marked answers left streaming by a previous run as interrupted");
    return stuck.length;
  }

  /** Shutdown: abort every run (each persists as error "interrupted") and wait for them, up to `timeoutMs`. */
  async close(timeoutMs = 2_000): Promise<void> {
    this.closing = true;
    this.stopListener();
    const runs = [...this.runs.values()];
    for (const run of runs) run.abort("shutdown");
    await Promise.race([
      Promise.allSettled(runs.map((r) => r.finished)),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

  // --- internals ----------------------------------------------------------

  private async agentFor(agentId: string | undefined, sessionDefault: string | null, lenient = false): Promise<AgentConfig> {
    let agent: AgentConfig;
    try {
      agent = await resolveAgent(this.deps.db, agentId, sessionDefault);
    } catch (error) {
      // Regenerating with an agent that has since been deleted: use the default one.
      if (!lenient || !(error instanceof TRPCError) || error.code !== "NOT_FOUND") throw error;
      agent = await resolveAgent(this.deps.db, undefined, sessionDefault);
    }
    if (!this.deps.providers.has(agent.provider)) {
      throw new TRPCError({
        code: "PRECONDITION_FAILED",
        message: `agent "${agent.name}" uses provider "${agent.provider}", which is not configured on this server; choose another agent (agent.list)`,
      });
    }
    return agent;
  }

  private reserve(sessionId: string): () => void {
    const { config } = this.deps;
    if (this.closing) throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the server is shutting down; retry on the next server" });
    let inSessionCount = this.reserved.get(sessionId) ?? 0;
    for (const run of this.runs.values()) if (run.sessionId === sessionId) inSessionCount++;
    if (inSessionCount >= config.CHAT_MAX_RUNS_PER_SESSION) {
      const active = [...this.runs.values()].find((r) => r.sessionId === sessionId);
      throw new TRPCError({
        code: "CONFLICT",
        message: `session ${sessionId} already has ${inSessionCount} active run(s)${active ? ` (${active.id})` : ""}; the limit is ${config.CHAT_MAX_RUNS_PER_SESSION} (CHAT_MAX_RUNS_PER_SESSION). Wait for it to finish or call chat.stop`,
      });
    }
    if (this.runs.size + this.reservedTotal >= config.CHAT_MAX_CONCURRENT_RUNS) {
      throw tooManyRequests(
        `${this.runs.size + this.reservedTotal} runs are active on this server; the limit is ${config.CHAT_MAX_CONCURRENT_RUNS} (CHAT_MAX_CONCURRENT_RUNS). Retry when one finishes`,
        SLOT_RETRY_AFTER_MS,
      );
    }
    this.reserved.set(sessionId, (this.reserved.get(sessionId) ?? 0) + 1);
    this.reservedTotal++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reservedTotal--;
      const left = (this.reserved.get(sessionId) ?? 1) - 1;
      if (left > 0) this.reserved.set(sessionId, left);
      else this.reserved.delete(sessionId);
    };
  }

  /** The answer inherits its question's audience (visibility and author, issue 6). */
  private assistantData(
    sessionId: string,
    seq: number,
    question: Pick<Message, "id" | "visibility" | "authorId">,
    runId: string,
    agent: AgentConfig,
    memoryIds?: string[],
  ): Prisma.MessageUncheckedCreateInput {
    const metadata: RunMetadata = {
      runId,
      instance: this.instance,
      agentId: agent.id,
      agentName: agent.name,
      provider: agent.provider,
      model: agent.model,
      ...(memoryIds && memoryIds.length > 0 ? { memoryIds } : {}),
    };
    return {
      sessionId,
      seq,
      role: "assistant",
      author: agent.name,
      content: "",
      status: "streaming",
      parentId: question.id,
      visibility: question.visibility,
      authorId: question.authorId,
      metadata,
    };
  }

  /** Register the run (synchronously, before publishing), publish its created events, start streaming. */
  private launch(
    runId: string,
    assistant: Message,
    createdEventSeq: number,
    agent: AgentConfig,
    envelopes: Array<Awaited<ReturnType<typeof writeSessionEvent>>>,
    scope: Prisma.MessageWhereInput,
    history: ChatTurn[],
    early: StartedCompletion | null,
  ) {
    const run = new ChatRun(runId, assistant.sessionId, assistant.id, createdEventSeq, agent, early?.controller);
    run.scope = scope;
    run.visibility = assistant.visibility;
    run.authorId = assistant.authorId;
    this.runs.set(runId, run);
    for (const envelope of envelopes) this.deps.bus.publish(sessionChannel(assistant.sessionId), envelope);
    run.finished = this.execute(run, assistant, history, early);
  }

  /**
   * The provider request of a run about to be stored, sent from inside the
   * transaction that stores it, once the question and the history are known:
   * the request then travels while the created events are written and
   * committed. Null for a provider that reads the database (the built-in
   * assistant), whose request starts with the run.
   */
  private startEarly(
    agent: AgentConfig,
    messages: ChatTurn[],
    sessionId: string,
    questionMessageId: string,
    scope: Prisma.MessageWhereInput,
  ): StartedCompletion | null {
    const provider = this.deps.providers.get(agent.provider);
    if (!provider || provider.readsDatabase) return null;
    const request = { model: agent.model, messages, temperature: agent.temperature, sessionId, questionMessageId, scope };
    return new StartedCompletion(provider, request, new AbortController());
  }

  /**
   * What the provider is sent: the asker's visible complete messages up to the
   * question. Read inside the transaction that stores the run's answer (the
   * question's seq is known there), so the request can start before it
   * commits (startEarly), with no database round trip after it.
   */
  private async history(
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

  private appendText(run: ChatRun, text: string) {
    const offset = run.text.length;
    run.text += text;
    this.deps.bus.publish(sessionChannel(run.sessionId), {
      seq: null,
      event: { type: "chat.delta", runId: run.id, messageId: run.messageId, offset, text },
    });
    run.emit({ type: "delta", offset, text });
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
        usage?.tokensPerSecond != null
          ? round(usage.tokensPerSecond)
          : streamingSeconds > 0
            ? round(completionTokens / streamingSeconds)
            : null,
      finishReason,
      providerFinishReason: end?.providerFinishReason ?? null,
      usageSource: usage?.completionTokens != null ? "provider" : "estimated",
      ...(failure !== null ? { error: failure } : {}),
    };
    const message = await this.persistFinal(run, status, metadata).catch((error: unknown) => {
      log.error({ err: error }, "could not save the finished answer; it stays streaming until the next start marks it interrupted");
      return null;
    });
    this.runs.delete(run.id);
    this.remember(run.id, run.messageId);
    run.emit({ type: "done", message });
    run.listeners.clear();
    log.info({ status, finishReason, durationMs: metadata.durationMs, chars: run.text.length }, "chat run finished");
    for (const listener of this.finishedListeners) listener({ ttftMs: metadata.ttftMs ?? null, tokensPerSecond: metadata.tokensPerSecond ?? null });
    return message;
  }

  private async persistFinal(run: ChatRun, status: MessageStatus, metadata: RunMetadata): Promise<Message> {
    const { db, bus } = this.deps;
    const { message, envelope } = await db.$transaction(async (tx) => {
      const counters = await tx.session.update({
        where: { id: run.sessionId },
        data: { lastEventSeq: { increment: 1 } },
        select: { lastEventSeq: true },
      });
      const message = await tx.message.update({ where: { id: run.messageId }, data: { content: run.text, status, metadata } });
      const envelope = await writeSessionEvent(tx, run.sessionId, counters.lastEventSeq, { type: "message.updated", message });
      return { message, envelope };
    });
    // Leave the registry before publishing: a subscriber that sees message.updated gets no later snapshot.
    this.runs.delete(run.id);
    bus.publish(sessionChannel(run.sessionId), envelope);
    return message;
  }

  private remember(runId: string, messageId: string) {
    this.recent.set(runId, messageId);
    if (this.recent.size > RECENT_RUNS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  private async findRunMessage(runId: string): Promise<Message | null> {
    const { db, config } = this.deps;
    const known = this.recent.get(runId);
    if (known) return db.message.findUnique({ where: { id: known } });
    // Prisma has no JSON path filter on SQLite: one raw query per provider.
    const rows = isPostgresUrl(config.DATABASE_URL)
      ? await db.$queryRaw<Array<{ id: string }>>`SELECT id FROM "Message" WHERE metadata->>'runId' = ${runId} LIMIT 1`
      : await db.$queryRaw<Array<{ id: string }>>`SELECT id FROM "Message" WHERE json_extract(metadata, '$.runId') = ${runId} LIMIT 1`;
    const id = rows[0]?.id;
    return id ? db.message.findUnique({ where: { id } }) : null;
  }
}

function objectOf(value: Prisma.JsonValue): Record<string, Prisma.JsonValue> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, Prisma.JsonValue>) : {};
}

function agentIdOf(message: Message): string | null {
  const parsed = z.object({ agentId: z.string().nullable() }).safeParse(message.metadata);
  return parsed.success ? parsed.data.agentId : null;
}

const round = (n: number) => Math.round(n * 10) / 10;
