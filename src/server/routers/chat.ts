// chat.*: ask a question and watch the answer stream. Runs belong to the
// server (ChatRunRegistry): unsubscribing never stops one; chat.stop does.
import { chatRegenerateInput, chatRunInput, chatSendInput, chatStopInput } from "../../shared/chat";
import { publicProcedure, router } from "../trpc";

export const chatRouter = router({
  /**
   * Persists the user message and a `streaming` answer, starts the run.
   * CONFLICT when the session already has an active run, TOO_MANY_REQUESTS at the server's cap.
   */
  send: publicProcedure.input(chatSendInput).mutation(({ ctx, input }) => ctx.chat.send(input)),
  /** A new answer to the same question, kept beside the old one (same parentId). */
  regenerate: publicProcedure.input(chatRegenerateInput).mutation(({ ctx, input }) => ctx.chat.regenerate(input)),
  /** Aborts the upstream request; the partial text is saved with status `stopped`. Returns the final message. */
  stop: publicProcedure.input(chatStopInput).mutation(({ ctx, input }) => ctx.chat.stop(input.runId)),
  /**
   * One run's text: tracked by text offset (resume gives the text after
   * `lastEventId`, then the live tail), ending with `done` and the final message.
   */
  run: publicProcedure.input(chatRunInput).subscription(async function* ({ ctx, input, signal }) {
    yield* ctx.chat.runStream(input.runId, input.lastEventId, signal);
  }),
});
