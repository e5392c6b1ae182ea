// events.*: typed agent events (stt.*, llm.*, tts.*, tool.*, memory.*,
// agent.progress, system.info, latency.trace, custom.*), persisted and resumable.
import { TRPCError } from "@trpc/server";
import { agentEventPublishInput, agentEventSubscribeInput } from "../../shared/agent-events";
import { requireSession } from "../auth/access";
import { readableSessionsWhere } from "../auth/policy";
import { canWriteAnywhere, isAdmin } from "../auth/principal";
import { authedProcedure, router, streamProcedure } from "../trpc";

export const eventsRouter = router({
  /**
   * Persist and publish one event; `to` addresses it to one principal. Returns it with its id.
   * With `sessionId`, needs write access to that session; viewers may not publish.
   */
  publish: authedProcedure.input(agentEventPublishInput).mutation(async ({ ctx, input }) => {
    if (input.sessionId) await requireSession(ctx, input.sessionId, "write");
    else if (!canWriteAnywhere(ctx.principal)) throw new TRPCError({ code: "FORBIDDEN", message: "role viewer may not publish events" });
    return ctx.agentEvents.publish(input, ctx.principal.id);
  }),
  /**
   * Matching events as tracked(String(id), event): the last `replay` (or,
   * with `lastEventId`, everything after it), then live ones. Events addressed
   * to another principal are never delivered. With `sessionId`, needs read
   * access to it; without, a non-admin gets events of no session and of the
   * sessions it could read when it subscribed and still can (removal is seen at once).
   */
  subscribe: streamProcedure.input(agentEventSubscribeInput).subscription(async function* ({ ctx, input }) {
    let readableSessionIds: Set<string> | undefined;
    if (input.sessionId) {
      ctx.stream.readsSession(input.sessionId);
      await requireSession(ctx, input.sessionId, "read");
    }
    else if (!isAdmin(ctx.principal)) {
      const rows = await ctx.db.session.findMany({ where: readableSessionsWhere(ctx.principal), select: { id: true } });
      readableSessionIds = new Set(rows.map((r) => r.id));
    }
    // A session the caller is removed from stops being delivered (with sessionId, the stream ends: auth/stream-guard.ts).
    const stopWatching = readableSessionIds ? ctx.auth.watchReadable(ctx.principal, readableSessionIds) : null;
    try {
      yield* ctx.agentEvents.stream({
        types: input.types,
        sessionId: input.sessionId,
        lastEventId: input.lastEventId,
        replay: input.replay,
        principalId: ctx.principal.id,
        signal: ctx.stream.signal,
        queueLimit: ctx.config.SUBSCRIBER_QUEUE_LIMIT,
        readableSessionIds,
      });
    } finally {
      stopWatching?.();
    }
  }),
});
