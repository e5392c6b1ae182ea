// Whether a new chat run may start: CHAT_MAX_RUNS_PER_SESSION (CONFLICT) and
// CHAT_MAX_CONCURRENT_RUNS (TOO_MANY_REQUESTS) on this instance, nothing while
// shutting down (SERVICE_UNAVAILABLE); and sends with a `clientKey`, so a
// retry of a question starts no second run.
import { TRPCError } from "@trpc/server";
import type { Message } from "../../generated/prisma/client";
import { runIdOf } from "../../shared/chat";
import { SLOT_RETRY_AFTER_MS, tooManyRequests } from "../auth/limits";
import type { Db } from "../db";
import { clientKeyTaken } from "../services/errors";
import type { Config } from "../env";
import type { RunStore } from "./run-store";

/** What `chat.send` answers: the stored question, its answer's id and the run streaming it. */
export interface ChatSendResult {
  userMessage: Message;
  assistantMessageId: string;
  runId: string;
}

export class RunAdmission {
  /** Slots taken by sends that are still persisting, per session, so limits hold under concurrency. */
  private readonly reserved = new Map<string, number>();
  private reservedTotal = 0;
  /** Sends with a clientKey in progress here (`sessionId clientKey`): a concurrent retry waits for the first. */
  private readonly keyedSends = new Map<string, Promise<ChatSendResult>>();
  private closing = false;

  constructor(private readonly deps: { db: Db; config: Config; runs: RunStore }) {}

  /** Shutting down: every later reservation is refused. */
  close(): void {
    this.closing = true;
  }

  /**
   * A slot for a new run in `sessionId`, held from before its question is
   * stored until the run is registered (then the run itself counts); the
   * returned function gives it back. Throws the refusal otherwise.
   */
  reserve(sessionId: string): () => void {
    const { config, runs } = this.deps;
    if (this.closing) throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "the server is shutting down; retry on the next server" });
    const inSession = runs.inSession(sessionId);
    const inSessionCount = (this.reserved.get(sessionId) ?? 0) + inSession.length;
    if (inSessionCount >= config.CHAT_MAX_RUNS_PER_SESSION) {
      const active = inSession[0];
      throw new TRPCError({
        code: "CONFLICT",
        message: `session ${sessionId} already has ${inSessionCount} active run(s)${active ? ` (${active.id})` : ""}; the limit is ${config.CHAT_MAX_RUNS_PER_SESSION} (CHAT_MAX_RUNS_PER_SESSION). Wait for it to finish or call chat.stop`,
      });
    }
    if (runs.size + this.reservedTotal >= config.CHAT_MAX_CONCURRENT_RUNS) {
      throw tooManyRequests(
        `${runs.size + this.reservedTotal} runs are active on this server; the limit is ${config.CHAT_MAX_CONCURRENT_RUNS} (CHAT_MAX_CONCURRENT_RUNS). Retry when one finishes`,
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

  /**
   * `send` once per (session, clientKey): a key already stored answers what
   * its first send did (also to a concurrent duplicate, here or on another
   * instance: `isRace` says when our insert lost to theirs); without a key,
   * `send` runs.
   */
  async once(
    sessionId: string,
    clientKey: string | undefined,
    send: () => Promise<ChatSendResult>,
    isRace: (error: unknown) => boolean,
    /**
     * Whether the sender may be answered with a message already stored under
     * the key (its own, or one it may see); otherwise the key is refused
     * without a word about that message (services/errors.ts clientKeyTaken).
     */
    mayReuse?: (message: Pick<Message, "authorId" | "visibility">) => boolean,
  ): Promise<ChatSendResult> {
    if (clientKey === undefined) return send();
    const slot = `${sessionId} ${clientKey}`;
    const inFlight = this.keyedSends.get(slot);
    if (inFlight) return inFlight;
    const sending = (async () => {
      const stored = await this.sentWithKey(sessionId, clientKey, mayReuse);
      if (stored) return stored;
      try {
        return await send();
      } catch (error) {
        // Another instance stored the key between our look-up and our insert.
        if (!isRace(error)) throw error;
        const raced = await this.sentWithKey(sessionId, clientKey, mayReuse);
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
  private async sentWithKey(sessionId: string, clientKey: string, mayReuse?: (message: Pick<Message, "authorId" | "visibility">) => boolean): Promise<ChatSendResult | null> {
    const { db } = this.deps;
    const userMessage = await db.message.findFirst({ where: { sessionId, clientKey } });
    if (!userMessage) return null;
    if (mayReuse && !mayReuse(userMessage)) throw clientKeyTaken(sessionId, clientKey);
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
}
