// The issue-4 part of system.*: the connection registry (admin; every
// instance's connections with a shared bus, issue 7), and the demo flow that
// fills dashboards on a fresh install. Spread into systemRouter.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { idSchema } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { CLUSTER_REPLY_TIMEOUT_MS } from "../cluster/connections";
import { canWriteAnywhere } from "../auth/principal";
import { adminProcedure, authedProcedure } from "../trpc";

export const systemDisconnectInput = z.object({
  connectionId: z.string().min(1).max(64),
  /** The instance holding it (as `system.connections` labels it); default: the instance serving this call. */
  instance: z.string().min(1).max(200).optional(),
  reason: z.string().max(120).default("disconnected by an operator"),
});

export const systemDemoFlowInput = z
  .object({
    /** Attach the events to this session. */
    sessionId: idSchema.optional(),
    /** Pause between events. */
    delayMs: z.number().int().min(0).max(5_000).default(120),
  })
  .default({ delayMs: 120 });

export const systemLiveProcedures = {
  /**
   * Every open WebSocket connection of every instance, labelled with its
   * instance: principal, since when, from where, subscriptions, traffic,
   * buffered bytes. `unanswered`: instances up but silent (their connections are missing).
   */
  connections: adminProcedure.query(({ ctx }) => ctx.cluster.connections.list()),
  /** Close one connection (code 4000), on whichever instance holds it; its client reconnects and resumes its streams. */
  disconnect: adminProcedure.input(systemDisconnectInput).mutation(async ({ ctx, input }) => {
    const instance = input.instance ?? ctx.cluster.members.instance;
    const outcome = await ctx.cluster.connections.disconnect(input.connectionId, instance, input.reason);
    if (outcome === "no-answer") {
      throw new TRPCError({
        code: "TIMEOUT",
        message: `instance ${instance} did not answer within ${CLUSTER_REPLY_TIMEOUT_MS} ms; is it up? system.connections lists the instances that answer`,
      });
    }
    if (outcome === "not-found") {
      throw new TRPCError({
        code: "NOT_FOUND",
        message: `connection ${input.connectionId} is not open on instance ${instance}; system.connections lists the open ones`,
      });
    }
    return { disconnected: input.connectionId };
  }),
  /** Emit a voice-agent turn (stt → llm with tokens and a tool call → tts) as typed events, in the background. */
  demoFlow: authedProcedure.input(systemDemoFlowInput).mutation(async ({ ctx, input }) => {
    if (input.sessionId) await requireSession(ctx, input.sessionId, "write");
    else if (!canWriteAnywhere(ctx.principal)) throw new TRPCError({ code: "FORBIDDEN", message: "role viewer may not publish events" });
    return ctx.agentEvents.demoFlow({ sessionId: input.sessionId, delayMs: input.delayMs, source: ctx.principal.id });
  }),
};
