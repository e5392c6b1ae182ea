// message.*: post and page through a session's messages.
import { messageListInput, messagePostInput } from "../../shared/schemas";
import { listMessages, postMessage } from "../services/messages";
import { publicProcedure, router } from "../trpc";

export const messageRouter = router({
  /** Persists the message (seq assigned atomically) and publishes message.created. */
  post: publicProcedure
    .input(messagePostInput)
    .mutation(({ ctx, input }) => postMessage(ctx, { maxContentBytes: ctx.config.MESSAGE_MAX_BYTES }, input)),
  list: publicProcedure.input(messageListInput).query(({ ctx, input }) => listMessages(ctx, input)),
});
