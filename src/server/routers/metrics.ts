// metrics.*: the latest sample and the resumable live stream, of this
// instance, another instance, or the whole cluster (cluster/metrics.ts).
import { TRPCError } from "@trpc/server";
import { metricsLiveInput, metricsSnapshotInput } from "../../shared/metrics";
import { liveWindows } from "../metrics/collector";
import type { Context } from "../context";
import { authedProcedure, router, streamProcedure } from "../trpc";

/** The series a call asks for, or NOT_FOUND naming the instance. */
function seriesFor(ctx: Context, input: { scope?: "instance" | "cluster"; instance?: string } | undefined) {
  const source = ctx.cluster.metrics.source(input?.scope ?? "instance", input?.instance);
  if (!source) {
    throw new TRPCError({
      code: "NOT_FOUND",
      message: `instance ${input?.instance ?? ""} is not up or has not reported metrics yet; metrics.instances lists the instances`,
    });
  }
  return source;
}

export const metricsRouter = router({
  /** The latest raw sample (null in the first METRICS_SAMPLE_MS after start; a cluster sample one period later). */
  snapshot: authedProcedure.input(metricsSnapshotInput).query(({ ctx, input }) => seriesFor(ctx, input).latest()),
  /**
   * The history folded at `resolutionMs`, then live windows, each as
   * tracked(String(window start), window). Reconnecting clients resume after
   * the last window they received.
   */
  live: streamProcedure.input(metricsLiveInput).subscription(({ ctx, input }) =>
    liveWindows(seriesFor(ctx, input), { resolutionMs: input.resolutionMs, lastEventId: input.lastEventId, signal: ctx.stream.signal, stats: ctx.stats }),
  ),
  /** The instance serving the call and every instance up (itself first); without REDIS_URL only itself. */
  instances: authedProcedure.query(({ ctx }) => ({
    instance: ctx.cluster.members.instance,
    instances: ctx.cluster.members.alive(),
  })),
});
