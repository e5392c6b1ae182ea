// metrics.*: the collector's latest sample and its resumable live stream.
import { metricsLiveInput } from "../../shared/metrics";
import { authedProcedure, router } from "../trpc";

export const metricsRouter = router({
  /** The latest raw sample (null in the first METRICS_SAMPLE_MS after start). */
  snapshot: authedProcedure.query(({ ctx }) => ctx.metrics.snapshot()),
  /**
   * The history folded at `resolutionMs`, then live windows, each as
   * tracked(String(window start), window). Reconnecting clients resume after
   * the last window they received.
   */
  live: authedProcedure.input(metricsLiveInput).subscription(({ ctx, input, signal }) =>
    ctx.metrics.live({ resolutionMs: input.resolutionMs, lastEventId: input.lastEventId, signal: ctx.streamSignal ?? signal }),
  ),
});
