// Chat runs: server-owned jobs that stream one assistant answer from a
// provider. This is where a run starts (`send`, `regenerate`: the question and
// a `streaming` answer stored, the provider request started), stops (here or
// on the instance executing it), and what shutdown and a crash leave behind.
// The rest lives by subject: admission.ts (limits, clientKey retries),
// run-store.ts (the runs of this instance, a run's bus channel),
// run-execution.ts (streaming and the final answer), run-stream.ts (chat.run).
import { randomUUID } from "node:crypto";
import { TRPCError, type TrackedEnvelope } from "@trpc/server";
import { z } from "zod";
import type { Message, Prisma } from "../../generated/prisma/client";
import { runIdOf, type ChatRunEvent, type RunMetadata, type chatRegenerateInput, type chatSendInput } from "../../shared/chat";
import type { SessionEventEnvelope } from "../../shared/events";
import { instanceName } from "../cluster/members";
import type { ActiveRunSnapshot, ActiveRunSource } from "../realtime/subscription";
import { inSession, isUniqueViolation, sessionNotFound } from "../services/errors";
import { authorLabel } from "../services/message-writer";
import { RunAdmission, type ChatSendResult } from "./admission";
import { resolveAgent, type AgentConfig } from "./agents";
import type { ProviderRegistry } from "./providers";
import { objectOf, RunExecutor, type RunExecutorDeps, type RunFigures, type StartedCompletion } from "./run-execution";
import { ChatRun, chatControlChannel, RunStore } from "./run-store";
import { RunStreams } from "./run-stream";
import type { ChatTurn } from "./providers/provider";

export type { ChatSendResult } from "./admission";

export interface ChatRunDeps extends RunExecutorDeps {
  /** Memories a run's provider is told (a system turn after the agent's prompt; their ids go in the run's metadata). */
  memories?: RunMemories;
}

/** Where a run's memory context comes from (memory/index.ts MemoryService). */
export interface RunMemories {
  /** At most `limit` memories an answer of `agentId` in `sessionId` may quote for `question`: a system turn listing them (null: none) and their ids. */
  runContext(run: { sessionId: string; agentId: string | null; question: string; limit: number }): Promise<{ text: string | null; ids: string[] }>;
}

/**
 * Who asks. The question and its answer carry `authorId`; the answer
 * inherits the question's visibility; `scope` limits what the run reads
 * (history sent to the provider, the built-in assistant's retrieval) to the
 * messages the asker may see.
 */
export interface RunAsker {
  authorId: string | null;
  /** The asker's own name: the question's author (its `author` input is only a label beside it). */
  name: string;
  scope: Prisma.MessageWhereInput;
  /**
   * Whether the asker may be answered with a message already stored under its
   * `clientKey` (its own, or one it may see). Otherwise the key is refused
   * without a word about that message (services/errors.ts clientKeyTaken).
   */
  mayReuse?: (message: Pick<Message, "authorId" | "visibility">) => boolean;
}
const OPEN_ASKER: RunAsker = { authorId: null, name: "anonymous", scope: {} };

/** How long `chat.stop` waits for another instance to stop its run. */
const STOP_ELSEWHERE_WAIT_MS = 10_000;
/** A streaming answer this much older than CHAT_RUN_TIMEOUT_MS has no live owner. */
const ABANDONED_MARGIN_MS = 60_000;

export class ChatRunRegistry implements ActiveRunSource {
  private readonly runs: RunStore;
  private readonly admission: RunAdmission;
  private readonly executor: RunExecutor;
  private readonly streams: RunStreams;
  /** This server's name among instances (PARLEY_INSTANCE, else host:PORT). */
  readonly instance: string;
  private readonly stopListening: () => void;

  constructor(private readonly deps: ChatRunDeps) {
    const { db, bus, config } = deps;
    this.instance = instanceName(config, config.PORT);
    this.runs = new RunStore({ db, config });
    this.admission = new RunAdmission({ db, config, runs: this.runs });
    this.executor = new RunExecutor({ ...deps, runs: this.runs });
    const shared = config.REDIS_URL !== undefined;
    this.streams = new RunStreams({ bus, runs: this.runs, shared, queueLimit: config.SUBSCRIBER_QUEUE_LIMIT });
    // Commands for the runs this instance executes, from readers and chat.stop on other
    // instances (only a shared bus has other instances).
    this.stopListening = shared
      ? bus.subscribe(chatControlChannel, (command) => {
          const run = this.runs.get(command.runId);
          if (!run) return;
          if (command.type === "stop") run.abort("stopped");
          else this.executor.publishSnapshot(run);
        })
      : () => undefined;
  }

  /** Called with each finished run's time to first token and tokens/s (metrics). */
  onRunFinished(listener: (figures: RunFigures) => void): () => void {
    return this.executor.onFinished(listener);
  }

  /** The providers this server can use (agents name one of them). */
  get providers(): ProviderRegistry {
    return this.deps.providers;
  }

  /** Runs streaming on this instance. */
  get activeCount(): number {
    return this.runs.size;
  }

  activeRuns(sessionId: string): ActiveRunSnapshot[] {
    return this.runs.activeRuns(sessionId);
  }

  /**
   * Persist the user message and a `streaming` answer, start the run. With a
   * `clientKey` already used in the session, nothing is written and no run
   * starts: the stored question, its first answer and that answer's run are
   * returned (also to a concurrent duplicate, here or on another instance).
   */
  send(
    input: z.output<typeof chatSendInput>,
    asker: RunAsker = OPEN_ASKER,
    /** Takes the caller's run slot (CHAT_MAX_RUNS_PER_PRINCIPAL) only when a new run starts; returns its release. */
    takeSlot: () => () => void = () => () => undefined,
  ): Promise<ChatSendResult> {
    return this.admission.once(input.sessionId, input.clientKey, () => this.startHoldingSlot(input, asker, takeSlot), isUniqueViolation, asker.mayReuse);
  }

  /** A new question and run; the slot is held until the run finishes. */
  private async startHoldingSlot(input: z.output<typeof chatSendInput>, asker: RunAsker, takeSlot: () => () => void): Promise<ChatSendResult> {
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
    const memory = await this.memoryContext(input.sessionId, agent, input.content);
    const release = this.admission.reserve(input.sessionId);
    /** The provider request, once sent from inside the transaction (cancelled if the transaction fails). */
    const early: { completion: StartedCompletion | null } = { completion: null };
    try {
      const runId = `run_${randomUUID()}`;
      const { userMessage, assistant, envelopes, history } = await inSession(input.sessionId, () =>
        db.$transaction(async (tx) => {
          const counters = await tx.session.update({
            where: { id: input.sessionId },
            data: { lastSeq: { increment: 2 } },
            select: { lastSeq: true },
          });
          const userMessage = await tx.message.create({
            data: {
              sessionId: input.sessionId,
              seq: counters.lastSeq - 1,
              role: "user",
              author: asker.name,
              authorLabel: authorLabel(input.author, { id: asker.authorId, name: asker.name }),
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
          const history = await this.executor.history(tx, input.sessionId, userMessage.seq, agent, asker.scope, memory?.text);
          early.completion = this.executor.startEarly(agent, history, input.sessionId, userMessage.id, asker.scope);
          const envelopes = await this.deps.sessionLog.append(tx, input.sessionId, [
            { type: "message.created", message: userMessage },
            { type: "message.created", message: assistant },
          ]);
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
    const memory = await this.memoryContext(question.sessionId, agent, question.content);
    const release = this.admission.reserve(question.sessionId);
    /** The provider request, once sent from inside the transaction (cancelled if the transaction fails). */
    const early: { completion: StartedCompletion | null } = { completion: null };
    try {
      const runId = `run_${randomUUID()}`;
      const { assistant, envelope, history } = await inSession(question.sessionId, () =>
        db.$transaction(async (tx) => {
          const counters = await tx.session.update({
            where: { id: question.sessionId },
            data: { lastSeq: { increment: 1 } },
            select: { lastSeq: true },
          });
          const assistant = await tx.message.create({
            data: this.assistantData(question.sessionId, counters.lastSeq, question, runId, agent, memory?.ids),
          });
          const history = await this.executor.history(tx, question.sessionId, question.seq, agent, asker.scope, memory?.text);
          early.completion = this.executor.startEarly(agent, history, question.sessionId, question.id, asker.scope);
          const [envelope] = await this.deps.sessionLog.append(tx, question.sessionId, [{ type: "message.created", message: assistant }]);
          if (!envelope) throw new Error("the session log appended nothing");
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

  /** Where a run's answer lives and who may see it (active or finished); null when unknown. */
  describeRun(runId: string): Promise<Pick<Message, "sessionId" | "visibility" | "authorId"> | null> {
    return this.runs.describe(runId);
  }

  /** Resolves when the run (on this instance) has finished; at once when it is not running here. */
  whenFinished(runId: string): Promise<unknown> {
    return this.runs.get(runId)?.finished.catch(() => undefined) ?? Promise.resolve();
  }

  /** Abort the run's upstream request and persist its partial text as `stopped`; resolves with the final message. */
  async stop(runId: string): Promise<Message> {
    const run = this.runs.get(runId);
    if (!run) {
      const message = await this.runs.findMessage(runId);
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

  /** `chat.run`: see run-stream.ts. */
  runStream(runId: string, lastEventId: string | null | undefined, signal: AbortSignal | undefined): AsyncGenerator<TrackedEnvelope<ChatRunEvent>, void, unknown> {
    return this.streams.follow(runId, lastEventId, signal);
  }

  /** Start-up: answers left `streaming` by a crash end as `error` ("interrupted"), with a message.updated event. */
  async recoverInterrupted(): Promise<number> {
    const { db, log, config } = this.deps;
    const streaming = await db.message.findMany({
      where: { status: "streaming" },
      select: { id: true, sessionId: true, metadata: true, updatedAt: true },
    });
    // Alone (no shared bus), every streaming answer was ours. With several
    // instances (REDIS_URL), only this instance's runs, or runs older than any
    // run may live (their instance never came back), were interrupted.
    const abandonedBefore = Date.now() - config.CHAT_RUN_TIMEOUT_MS - ABANDONED_MARGIN_MS;
    const shared = config.REDIS_URL !== undefined;
    const stuck = streaming.filter((message) => {
      const owner = objectOf(message.metadata).instance;
      return !shared || owner === undefined || owner === this.instance || message.updatedAt.getTime() < abandonedBefore;
    });
    for (const message of stuck) await this.executor.markInterrupted(message, runIdOf(message));
    if (stuck.length > 0) log.warn({ count: stuck.length }, "marked answers left streaming by a previous run as interrupted");
    return stuck.length;
  }

  /** Shutdown: abort every run (each persists as error "interrupted") and wait for them, up to `timeoutMs`. */
  async close(timeoutMs = 2_000): Promise<void> {
    this.admission.close();
    this.stopListening();
    const runs = this.runs.all();
    for (const run of runs) run.abort("shutdown");
    await Promise.race([
      Promise.allSettled(runs.map((r) => r.finished)),
      new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }

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

  /**
   * Agents with a model provider are told the CHAT_MEMORY_CONTEXT best public
   * memories of their scopes (global, the agent's, the session's) for the
   * question. The built-in assistant quotes memories itself. A failed recall
   * leaves the run without memories, never without an answer.
   */
  private async memoryContext(sessionId: string, agent: AgentConfig, question: string): Promise<{ text: string | null; ids: string[] } | null> {
    const limit = this.deps.config.CHAT_MEMORY_CONTEXT;
    if (!this.deps.memories || limit === 0 || agent.provider === "builtin") return null;
    try {
      return await this.deps.memories.runContext({ sessionId, agentId: agent.id, question, limit });
    } catch (error) {
      this.deps.log.warn({ err: error, sessionId }, "memories for the run could not be read; it runs without them");
      return null;
    }
  }

  /** The answer inherits its question's audience (visibility and author). */
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

  /** Register the run and start executing it (run-execution.ts). */
  private launch(
    runId: string,
    assistant: Message,
    createdEventSeq: number,
    agent: AgentConfig,
    envelopes: SessionEventEnvelope[],
    scope: Prisma.MessageWhereInput,
    history: ChatTurn[],
    early: StartedCompletion | null,
  ) {
    const run = new ChatRun(runId, assistant.sessionId, assistant.id, createdEventSeq, agent, early?.controller);
    run.scope = scope;
    run.visibility = assistant.visibility;
    run.authorId = assistant.authorId;
    this.executor.launch(run, assistant, envelopes, history, early);
  }
}

function agentIdOf(message: Message): string | null {
  const parsed = z.object({ agentId: z.string().nullable() }).safeParse(message.metadata);
  return parsed.success ? parsed.data.agentId : null;
}
