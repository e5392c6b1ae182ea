// message.*: post and page through a session's messages.
import { messageListInput, messagePostInput } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { visibleMessagesWhere } from "../auth/policy";
import { listMessages, postMessage } from "../services/messages";
import { authedProcedure, router } from "../trpc";

export const messageRouter = router({
  /** Persists the message (seq assigned atomically) and publishes message.created. */
  /** Needs write access to the session; the caller is the message's author (authorId). */
  post: authedProcedure.input(messagePostInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "write");
    return postMessage(ctx, { maxContentBytes: ctx.config.MESSAGE_MAX_BYTES }, input, ctx.principal.id);
  }),
  /** Only the messages the caller may see (visibility rules, auth/policy.ts). */
  list: authedProcedure.input(messageListInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "read");
    return listMessages(ctx, input, visibleMessagesWhere(ctx.principal));
  }),
});
