// Where chat runs are kept: the runs executing on this instance (with their
// text so far), the runs that finished here recently, and a run's answer in
// the database, wherever it ran. A run's own bus channel is defined here too:
// what its readers on every instance hear (run-stream.ts).
//
// Contract of a run channel (`chatRunChannel(runId)`), published only by the
// instance executing the run, so in order (bus.ts):
// - `text`: `text` continues the answer at `offset`. A text at offset 0 may
//   also be the whole answer so far (a snapshot, sent when a reader asks on
//   `chatControlChannel`): a reader keeps what lies past what it holds.
// - `done`: the run ended; `message` is the persisted answer (null when it
//   could not be saved). Nothing follows.
// Delivery is at most once: a reader that may have missed something asks for
// a snapshot, and the final answer is always in the database.
import type { Message, Prisma, Visibility } from "../../generated/prisma/client";
import { channel, type Channel } from "../bus/bus";
import type { Db } from "../db";
import { isPostgresUrl, type Config } from "../env";
import type { ActiveRunSnapshot, ActiveRunSource } from "../realtime/subscription";
import type { AgentConfig } from "./agents";

export type AbortCause = "stopped" | "timeout" | "shutdown";

export type RunChannelMessage = { type: "text"; offset: number; text: string } | { type: "done"; message: Message | null };

export const chatRunChannel = (runId: string): Channel<RunChannelMessage> => channel<RunChannelMessage>(`chat-run:${runId}`);

/** Commands to whichever instance executes a run: stop it, or publish its text so far on its channel. */
export const chatControlChannel = channel<{ type: "stop" | "snapshot"; runId: string }>("chat:control");

/** One answer being streamed on this instance. */
export class ChatRun {
  text = "";
  abortCause: AbortCause | null = null;
  finished!: Promise<Message | null>;
  /** What the run may read (history, retrieval): the asker's visible messages. */
  scope: Prisma.MessageWhereInput = {};
  /** The answer's audience, inherited from its question. */
  visibility: Visibility = "public";
  authorId: string | null = null;
  /** Its bus channel (made once, not per token). */
  readonly channel: Channel<RunChannelMessage>;

  constructor(
    readonly id: string,
    readonly sessionId: string,
    readonly messageId: string,
    readonly createdEventSeq: number,
    readonly agent: AgentConfig,
    /** Aborts the provider request; a request started before the run came with its own. */
    readonly controller = new AbortController(),
  ) {
    this.channel = chatRunChannel(id);
  }

  abort(cause: AbortCause) {
    if (this.controller.signal.aborted) return;
    this.abortCause = cause;
    this.controller.abort(new Error(`run ${cause}`));
  }
}

/** Finished runs remembered in memory (older ones are found in the database). */
const RECENT_RUNS = 1_000;

export class RunStore implements ActiveRunSource {
  private readonly runs = new Map<string, ChatRun>();
  private readonly recent = new Map<string, string>();

  constructor(private readonly deps: { db: Db; config: Config }) {}

  /** Runs streaming on this instance. */
  get size(): number {
    return this.runs.size;
  }

  get(runId: string): ChatRun | undefined {
    return this.runs.get(runId);
  }

  all(): ChatRun[] {
    return [...this.runs.values()];
  }

  inSession(sessionId: string): ChatRun[] {
    return this.all().filter((run) => run.sessionId === sessionId);
  }

  add(run: ChatRun): void {
    this.runs.set(run.id, run);
  }

  /** The run left this instance's runs (it finished); it is remembered by id for a while. */
  remove(run: ChatRun): void {
    this.runs.delete(run.id);
    this.recent.set(run.id, run.messageId);
    if (this.recent.size > RECENT_RUNS) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  activeRuns(sessionId: string): ActiveRunSnapshot[] {
    const out: ActiveRunSnapshot[] = [];
    for (const run of this.runs.values()) {
      if (run.sessionId !== sessionId) continue;
      out.push({
        runId: run.id,
        messageId: run.messageId,
        createdEventSeq: run.createdEventSeq,
        text: run.text,
        visibility: run.visibility,
        authorId: run.authorId,
      });
    }
    return out;
  }

  /** Where a run's answer lives and who may see it (running here or anywhere, or finished); null when unknown. */
  async describe(runId: string): Promise<Pick<Message, "sessionId" | "visibility" | "authorId"> | null> {
    const run = this.runs.get(runId);
    if (run) return { sessionId: run.sessionId, visibility: run.visibility, authorId: run.authorId };
    const message = await this.findMessage(runId);
    return message ? { sessionId: message.sessionId, visibility: message.visibility, authorId: message.authorId } : null;
  }

  /** The answer a run writes, as stored now; null when no such run exists. */
  async findMessage(runId: string): Promise<Message | null> {
    const { db, config } = this.deps;
    const known = this.recent.get(runId) ?? this.runs.get(runId)?.messageId;
    if (known) return db.message.findUnique({ where: { id: known } });
    // Prisma has no JSON path filter on SQLite: one raw query per provider.
    const rows = isPostgresUrl(config.DATABASE_URL)
      ? await db.$queryRaw<Array<{ id: string }>>`SELECT id FROM "Message" WHERE metadata->>'runId' = ${runId} LIMIT 1`
      : await db.$queryRaw<Array<{ id: string }>>`SELECT id FROM "Message" WHERE json_extract(metadata, '$.runId') = ${runId} LIMIT 1`;
    const id = rows[0]?.id;
    return id ? db.message.findUnique({ where: { id } }) : null;
  }
}
