// The issue-4 part of system.*: the connection registry (admin), and the demo
// flow that fills dashboards on a fresh install. Spread into systemRouter.
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { idSchema } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { canWriteAnywhere } from "../auth/principal";
import { adminProcedure, authedProcedure } from "../trpc";

export const systemDisconnectInput = z.object({
  connectionId: z.string().min(1).max(64),
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
  /** Every open WebSocket connection: principal, since when, from where, subscriptions, traffic, buffered bytes. */
  connections: adminProcedure.query(({ ctx }) => ({ connections: ctx.connections.list() })),
  /** Close one connection (code 4000); its client reconnects and resumes its streams. */
  disconnect: adminProcedure.input(systemDisconnectInput).mutation(({ ctx, input }) => {
    if (!ctx.connections.disconnect(input.connectionId, input.reason)) {
      throw new TRPCError({
        code: "NOT_FOUND",
        message: `connection ${input.connectionId} is not open; system.connections lists the open ones`,
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
