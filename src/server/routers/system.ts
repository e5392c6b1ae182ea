// system.*: liveness for clients and dashboards, the connection registry
// (admins; every instance's connections with a shared bus), and the demo flow
// that fills dashboards on a fresh install.
import { TRPCError } from "@trpc/server";
import { systemDemoFlowInput, systemDisconnectInput } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { CLUSTER_REPLY_TIMEOUT_MS } from "../cluster/connections";
import { canWriteAnywhere } from "../auth/principal";
import { healthReport } from "../services/health";
import { adminProcedure, authedProcedure, publicProcedure, router } from "../trpc";

export const systemRouter = router({
  health: publicProcedure.query(({ ctx }) => healthReport(ctx)),
  /** A round trip that changes nothing; returns the server's clock. */
  ping: publicProcedure.mutation(() => ({ serverTime: new Date() })),
  /**
   * Every open WebSocket connection of every instance, labelled with its
   * instance: principal, since when, from where, subscriptions, traffic,
   * buffered bytes. `unanswered`: instances up but silent (their connections are missing).
   */
  connections: adminProcedure.query(async ({ ctx }) => {
    const listing = await ctx.cluster.connections.list();
    // The rooms these connections are in: each session's title, subscribed connections and who is present.
    const ids = [...new Set(listing.connections.flatMap((c) => c.sessions))];
    const titles = new Map(
      (await ctx.db.session.findMany({ where: { id: { in: ids } }, select: { id: true, title: true } })).map((s) => [s.id, s.title]),
    );
    const present = ctx.presence.present(ids);
    const rooms = ids.map((sessionId) => ({
      sessionId,
      title: titles.get(sessionId) ?? null,
      connections: listing.connections.filter((c) => c.sessions.includes(sessionId)).length,
      present: present.get(sessionId) ?? [],
    }));
    return { ...listing, rooms };
  }),
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
});
