// presence.* and session.presence: who is in a session now, and who is typing.
import { presenceTypingInput, sessionPresenceInput } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import type { Context } from "../context";
import { authedProcedure, router, streamProcedure } from "../trpc";

/** NOT_FOUND for a missing session, FORBIDDEN unless the caller may read it. */
async function assertSession(ctx: Context, sessionId: string) {
  await requireSession(ctx, sessionId, "read");
}


/**
 * Mounted as `session.presence`: the caller's connection is present while
 * this runs. Yields the room (`sync`) first, then every join, leave and typing
 * change, each with the whole room. Not tracked: a reconnect starts with a
 * fresh `sync`.
 */
export const sessionPresence = streamProcedure.input(sessionPresenceInput).subscription(async function* ({ ctx, input }) {
  ctx.stream.readsSession(input.sessionId);
  await assertSession(ctx, input.sessionId);
  yield* ctx.presence.stream({
    sessionId: input.sessionId,
    connectionId: ctx.connectionId,
    principal: ctx.principal,
    signal: ctx.stream.signal,
  });
});

export const presenceRouter = router({
  /**
   * Mark the caller (ctx.principal) as typing in a session. Call it again
   * within PRESENCE_TYPING_TTL_MS to keep the mark. With PARLEY_AUTH=off every
   * HTTP request is a principal of its own: send it over the WebSocket so the
   * mark belongs to the present connection.
   */
  typing: authedProcedure.input(presenceTypingInput).mutation(async ({ ctx, input }) => {
    await assertSession(ctx, input.sessionId);
    const mark = ctx.presence.setTyping(input.sessionId, ctx.principal, input.typing);
    return { principalId: ctx.principal.id, until: mark?.until ?? null };
  }),
});
