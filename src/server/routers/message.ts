// message.*: post and page through a session's messages.
import { messageSearchInput } from "../../shared/memory";
import { messageListInput, messagePostInput } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { canSeeMessage, visibleMessagesWhere } from "../auth/policy";
import { requireOwnOrVisible } from "../services/errors";
import { isPostgresUrl } from "../env";
import { searchMessages } from "../search/messages";
import { listMessages, postMessage } from "../services/messages";
import { authedProcedure, router } from "../trpc";

export const messageRouter = router({
  /** Persists the message (seq assigned atomically) and publishes message.created. */
  /** Needs write access to the session; the caller is the message's author (authorId). */
  /**
   * With a `clientKey` already used in the session: the stored message, if it
   * is the caller's own or the caller may see it (else CONFLICT). A new
   * message is always returned to its author, whatever its visibility.
   */
  post: authedProcedure.input(messagePostInput).mutation(async ({ ctx, input }) => {
    const access = await requireSession(ctx, input.sessionId, "write");
    const message = await postMessage(ctx, { maxContentBytes: ctx.config.MESSAGE_MAX_BYTES }, input, ctx.principal.id);
    return requireOwnOrVisible(message, ctx.principal.id, (m) => canSeeMessage(ctx.principal, access, m), input);
  }),
  /** Only the messages the caller may see (visibility rules, auth/policy.ts). */
  list: authedProcedure.input(messageListInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "read");
    return listMessages(ctx, input, visibleMessagesWhere(ctx.principal));
  }),
  /** Ranked full-text search over every message the caller may see (the rules of list), with highlights and links. */
  search: authedProcedure.input(messageSearchInput).query(({ ctx, input }) =>
    searchMessages(ctx.db, isPostgresUrl(ctx.config.DATABASE_URL), ctx.principal, input),
  ),
});
