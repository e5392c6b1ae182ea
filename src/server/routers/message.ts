// message.*: post and page through a session's messages, and search every message one may read.
import { TRPCError } from "@trpc/server";
import { messageSearchInput } from "../../shared/memory";
import { messageListInput, messagePostInput } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { canSeeMessage, mayPostRole, visibleMessagesWhere } from "../auth/policy";
import { searchMessages } from "../search/messages";
import { requireOwnOrVisible } from "../services/errors";
import { listMessages, postMessage } from "../services/messages";
import { authedProcedure, router } from "../trpc";

export const messageRouter = router({
  /** Persists the message (seq assigned atomically) and publishes message.created. */
  /** Needs write access to the session; the caller is the message's author (authorId, and its name as `author`). */
  /**
   * With a `clientKey` already used in the session: the stored message, if it
   * is the caller's own or the caller may see it (else CONFLICT). A new
   * message is always returned to its author, whatever its visibility.
   */
  post: authedProcedure.input(messagePostInput).mutation(async ({ ctx, input }) => {
    const access = await requireSession(ctx, input.sessionId, "write");
    if (!mayPostRole(ctx.principal, input.role)) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: `role: "${input.role}" speaks for a machine and is for admins and principals with role agent; post as role "user"`,
      });
    }
    // The author is who the credentials say; `input.author` is only a label beside it.
    const poster = { id: ctx.principal.id, name: ctx.principal.name };
    const message = await postMessage(ctx.messages, { maxContentBytes: ctx.config.MESSAGE_MAX_BYTES }, input, poster);
    return requireOwnOrVisible(message, ctx.principal.id, (m) => canSeeMessage(ctx.principal, access, m), input);
  }),
  /** Only the messages the caller may see (visibility rules, auth/policy.ts). */
  list: authedProcedure.input(messageListInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "read");
    return listMessages(ctx, input, visibleMessagesWhere(ctx.principal));
  }),
  /** Ranked full-text search over every message the caller may see (the rules of list), with highlights and links. */
  search: authedProcedure.input(messageSearchInput).query(({ ctx, input }) =>
    searchMessages(ctx.storage, ctx.principal, input),
  ),
});
