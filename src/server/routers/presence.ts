// presence.* and session.presence: who is in a session now, and who is typing.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { idSchema } from "../../shared/schemas";
import type { Context } from "../context";
import { publicProcedure, router } from "../trpc";

async function assertSession(ctx: Context, sessionId: string) {
  const found = await ctx.db.session.findUnique({ where: { id: sessionId }, select: { id: true } });
  if (!found) throw new TRPCError({ code: "NOT_FOUND", message: `session ${sessionId} does not exist` });
}

export const sessionPresenceInput = z.object({ sessionId: idSchema });
export const presenceTypingInput = z.object({
  sessionId: idSchema,
  /** true (default) marks the caller as typing for PRESENCE_TYPING_TTL_MS; false clears the mark. */
  typing: z.boolean().default(true),
});

/**
 * Mounted as `session.presence`: the caller's connection is present while
 * this runs. Yields the room (`sync`) first, then every join, leave and typing
 * change, each with the whole room. Not tracked: a reconnect starts with a
 * fresh `sync`.
 */
export const sessionPresence = publicProcedure.input(sessionPresenceInput).subscription(async function* ({ ctx, input, signal }) {
  await assertSession(ctx, input.sessionId);
  yield* ctx.presence.stream({
    sessionId: input.sessionId,
    connectionId: ctx.connectionId,
    principal: ctx.principal,
    signal,
  });
});

export const presenceRouter = router({
  /**
   * Mark the caller (ctx.principal) as typing in a session. Call it again
   * within PRESENCE_TYPING_TTL_MS to keep the mark. Until authentication
   * (issue 6), anonymous HTTP callers are a new principal per request: send it
   * over the WebSocket so the mark belongs to the present connection.
   */
  typing: publicProcedure.input(presenceTypingInput).mutation(async ({ ctx, input }) => {
    await assertSession(ctx, input.sessionId);
    const mark = ctx.presence.setTyping(input.sessionId, ctx.principal, input.typing);
    return { principalId: ctx.principal.id, until: mark?.until ?? null };
  }),
});
