// session.*: sessions and the resumable stream of their changes.
import {
  sessionCreateInput,
  sessionEventsInput,
  sessionGetInput,
  sessionListInput,
  sessionUpdateInput,
} from "../../shared/schemas";
import { sessionEventStream } from "../services/session-events";
import { sessionPresence } from "./presence";
import { createSession, getSession, listSessions, updateSession } from "../services/sessions";
import { publicProcedure, router } from "../trpc";

export const sessionRouter = router({
  create: publicProcedure.input(sessionCreateInput).mutation(({ ctx, input }) => createSession(ctx, input)),
  update: publicProcedure.input(sessionUpdateInput).mutation(({ ctx, input }) => updateSession(ctx, input)),
  get: publicProcedure.input(sessionGetInput).query(({ ctx, input }) => getSession(ctx, input.id)),
  list: publicProcedure.input(sessionListInput).query(({ ctx, input }) => listSessions(ctx, input)),
  /** Who is in the session now and who is typing (see routers/presence.ts). */
  presence: sessionPresence,
  /**
   * Every persisted change of the session as tracked(seq, event). Resume by
   * passing the last id seen as `lastEventId` (tRPC clients do it for you).
   */
  events: publicProcedure.input(sessionEventsInput).subscription(async function* ({ ctx, input, signal }) {
    await getSession(ctx, input.sessionId); // NOT_FOUND before the stream starts
    yield* sessionEventStream({
      db: ctx.db,
      bus: ctx.bus,
      sessionId: input.sessionId,
      lastEventId: input.lastEventId,
      signal,
      queueLimit: ctx.config.SUBSCRIBER_QUEUE_LIMIT,
      chatRuns: ctx.chat,
    });
  }),
});
