// events.*: typed agent events (stt.*, llm.*, tts.*, tool.*, memory.*,
// agent.progress, system.info, latency.trace, custom.*), persisted and resumable.
import { agentEventPublishInput, agentEventSubscribeInput } from "../../shared/agent-events";
import { publicProcedure, router } from "../trpc";

export const eventsRouter = router({
  /** Persist and publish one event; `to` addresses it to one principal. Returns it with its id. */
  publish: publicProcedure
    .input(agentEventPublishInput)
    .mutation(({ ctx, input }) => ctx.agentEvents.publish(input, ctx.principal.id)),
  /**
   * Matching events as tracked(String(id), event): the last `replay` (or,
   * with `lastEventId`, everything after it), then live ones. Events addressed
   * to another principal are never delivered.
   */
  subscribe: publicProcedure.input(agentEventSubscribeInput).subscription(({ ctx, input, signal }) =>
    ctx.agentEvents.stream({
      types: input.types,
      sessionId: input.sessionId,
      lastEventId: input.lastEventId,
      replay: input.replay,
      principalId: ctx.principal.id,
      signal,
      queueLimit: ctx.config.SUBSCRIBER_QUEUE_LIMIT,
    }),
  ),
});
