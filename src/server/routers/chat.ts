// chat.*: ask a question and watch the answer stream. Runs belong to the
// server (ChatRunRegistry): unsubscribing never stops one; chat.stop does.
// Asking needs write access to the session; the answer inherits the
// question's visibility and reads only what the asker and every reader of the
// answer may see (auth/access.ts answerScope).
import { TRPCError } from "@trpc/server";
import { chatRegenerateInput, chatRunInput, chatSendInput, chatStopInput } from "../../shared/chat";
import { answerScope, requireSession, type SessionNeed } from "../auth/access";
import { canSeeMessage } from "../auth/policy";
import type { Context } from "../context";
import type { Message } from "../../generated/prisma/client";
import { clientKeyTaken } from "../services/errors";
import type { StreamScope } from "../auth/stream-guard";
import { authedProcedure, router, streamProcedure } from "../trpc";

/**
 * The run's session access and message visibility for the caller; NOT_FOUND
 * when the run is unknown or hidden from it. A stream that follows the run
 * (`stream`) reads its session: losing access to it ends the stream.
 */
async function requireRun(ctx: Context, runId: string, need: SessionNeed, stream?: StreamScope) {
  const run = await ctx.chat.describeRun(runId);
  if (!run) throw new TRPCError({ code: "NOT_FOUND", message: `run ${runId} does not exist` });
  stream?.readsSession(run.sessionId);
  const access = await requireSession(ctx, run.sessionId, need);
  if (!canSeeMessage(ctx.principal, access, run)) throw new TRPCError({ code: "NOT_FOUND", message: `run ${runId} does not exist` });
}

/** CHAT_MAX_RUNS_PER_PRINCIPAL: a slot held until the run finishes. */
async function withRunSlot<T extends { runId: string }>(ctx: Context, start: () => Promise<T>): Promise<T> {
  const release = ctx.auth.limits.startChatRun(ctx.principal.id);
  try {
    const started = await start();
    void ctx.chat.whenFinished(started.runId).finally(release);
    return started;
  } catch (error) {
    release();
    throw error;
  }
}

export const chatRouter = router({
  /**
   * Persists the user message and a `streaming` answer, starts the run.
   * CONFLICT when the session already has an active run, TOO_MANY_REQUESTS at the server's cap.
   */
  /** With a `clientKey` already used in the session: the stored question and its run, nothing new (CONFLICT if the caller may not see it). */
  send: authedProcedure.input(chatSendInput).mutation(async ({ ctx, input }) => {
    const access = await requireSession(ctx, input.sessionId, "write");
    const scope = await answerScope(ctx, input.sessionId, { visibility: input.visibility, authorId: ctx.principal.id });
    // The run slot is taken only if a new run starts (a retry with a used clientKey starts none).
    // A used clientKey answers with its message only to its author or a reader who may see it,
    // checked before anything about that message is said (its id, how it was posted).
    const ownOrVisible = (m: Pick<Message, "authorId" | "visibility">) => m.authorId === ctx.principal.id || canSeeMessage(ctx.principal, access, m);
    const asker = { authorId: ctx.principal.id, name: ctx.principal.name, scope, mayReuse: ownOrVisible };
    const sent = await ctx.chat.send(input, asker, () => ctx.auth.limits.startChatRun(ctx.principal.id));
    // Again for a concurrent duplicate, which shares the first sender's result.
    if (!ownOrVisible(sent.userMessage)) throw clientKeyTaken(input.sessionId, input.clientKey);
    return sent;
  }),
  /** A new answer to the same question, kept beside the old one (same parentId). */
  regenerate: authedProcedure.input(chatRegenerateInput).mutation(async ({ ctx, input }) => {
    const target = await ctx.db.message.findUnique({
      where: { id: input.messageId },
      select: { sessionId: true, visibility: true, authorId: true },
    });
    if (!target) throw new TRPCError({ code: "NOT_FOUND", message: `message ${input.messageId} does not exist` });
    const access = await requireSession(ctx, target.sessionId, "write");
    if (!canSeeMessage(ctx.principal, access, target)) {
      throw new TRPCError({ code: "NOT_FOUND", message: `message ${input.messageId} does not exist` });
    }
    // The new answer inherits the question's audience, which the target (question or answer) shares.
    const scope = await answerScope(ctx, target.sessionId, target);
    return withRunSlot(ctx, () => ctx.chat.regenerate(input, { authorId: ctx.principal.id, name: ctx.principal.name, scope }));
  }),
  /** Aborts the upstream request; the partial text is saved with status `stopped`. Returns the final message. */
  stop: authedProcedure.input(chatStopInput).mutation(async ({ ctx, input }) => {
    await requireRun(ctx, input.runId, "write");
    return ctx.chat.stop(input.runId);
  }),
  /**
   * One run's text: tracked by text offset (resume gives the text after
   * `lastEventId`, then the live tail), ending with `done` and the final message.
   */
  run: streamProcedure.input(chatRunInput).subscription(async function* ({ ctx, input }) {
    await requireRun(ctx, input.runId, "read", ctx.stream);
    yield* ctx.chat.runStream(input.runId, input.lastEventId, ctx.stream.signal);
  }),
});
