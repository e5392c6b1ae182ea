// memory.*: store, change and recall memories, and follow their changes.
// Thin: the rules live in src/server/memory (audience.ts says who may do what).
import { memoryEventsInput, memoryIdInput, memoryListInput, memoryRecallInput, memoryStoreInput, memoryUpdateInput } from "../../shared/memory";
import { requireSession } from "../auth/access";
import type { Context } from "../context";
import type { MemoryCaller } from "../memory";
import { authedProcedure, router, streamProcedure } from "../trpc";

/** The caller as the memory feature sees it: its principal and its (cached) session access. */
function callerOf(ctx: Context): MemoryCaller {
  return { principal: ctx.principal, sessionAccess: (sessionId) => ctx.auth.access.lookup(ctx.db, ctx.principal, sessionId) };
}

export const memoryRouter = router({
  /** Store a memory (viewers may not; a session scope needs write access). Recallable by its words at once, by meaning once embedded. */
  store: authedProcedure.input(memoryStoreInput).mutation(({ ctx, input }) => ctx.memory.remember(callerOf(ctx), input)),
  /** Its author, the owner of its scope, or an admin. */
  update: authedProcedure.input(memoryUpdateInput).mutation(({ ctx, input }) => ctx.memory.update(callerOf(ctx), input)),
  delete: authedProcedure.input(memoryIdInput).mutation(({ ctx, input }) => ctx.memory.delete(callerOf(ctx), input.id)),
  /** NOT_FOUND unless the caller may read it. */
  get: authedProcedure.input(memoryIdInput).query(({ ctx, input }) => ctx.memory.get(callerOf(ctx), input.id)),
  /** Newest first, only what the caller may read; `eventCursor` resumes memory.events right after this listing. */
  list: authedProcedure.input(memoryListInput).query(({ ctx, input }) => ctx.memory.list(callerOf(ctx), input)),
  /** Ranked memories the caller may read, with their scores and matched words. */
  recall: authedProcedure.input(memoryRecallInput).query(({ ctx, input }) => ctx.memory.recall(callerOf(ctx), input)),
  /**
   * Changes to memories the caller may read, as tracked(String(changeSeq), event).
   * Without `lastEventId`: changes from now on. With a session scope, needs
   * read access to the session, and ends with FORBIDDEN when the caller loses
   * it; without a scope, a session's memories stop arriving once the caller
   * may no longer read that session.
   */
  events: streamProcedure.input(memoryEventsInput).subscription(async function* ({ ctx, input }) {
    if (input.scope?.kind === "session") {
      ctx.stream.readsSession(input.scope.sessionId);
      await requireSession(ctx, input.scope.sessionId, "read");
    }
    yield* ctx.memory.events(callerOf(ctx), input, ctx.stream.signal);
  }),
});
