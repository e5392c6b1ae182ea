// system.*: liveness for clients and dashboards.
import { publicProcedure, router } from "../trpc";
import { healthReport } from "../services/health";
import { systemLiveProcedures } from "./system-live";

export const systemRouter = router({
  health: publicProcedure.query(({ ctx }) => healthReport(ctx)),
  /** A round trip that changes nothing; returns the server's clock. */
  ping: publicProcedure.mutation(() => ({ serverTime: new Date() })),
  /** connections, disconnect (admin) and demoFlow: see system-live.ts. */
  ...systemLiveProcedures,
});
