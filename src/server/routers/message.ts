// message.*: post and page through a session's messages, and search every message one may read.
import { TRPCError } from "@trpc/server";
import { messageSearchInput } from "../../shared/memory";
import { messageDeleteInput, messageListInput, messagePostInput, messageUpdateInput } from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { canSeeMessage, mayChangeMessage, mayPostRole, visibleMessagesWhere } from "../auth/policy";
import type { Context } from "../context";
import { deleteMessage, editMessage, sessionOfMessage, type MessageEditor } from "../services/message-changes";
import { searchMessages } from "../search/messages";
import { requireOwnOrVisible } from "../services/errors";
import { listMessages, postMessage } from "../services/messages";
import { authedProcedure, router } from "../trpc";

/** The caller as the editor of a message in its session (NOT_FOUND / FORBIDDEN per auth/policy.ts). */
async function editorIn(ctx: Context, messageId: string): Promise<MessageEditor> {
  const sessionId = await sessionOfMessage(ctx.db, messageId);
  // A message of a session the caller cannot read does not exist for it (not even which session holds it).
  const access = await requireSession(ctx, sessionId, "read").catch((error: unknown) => {
    throw error instanceof TRPCError && error.code === "FORBIDDEN" ? new TRPCError({ code: "NOT_FOUND", message: `message ${messageId} does not exist` }) : error;
  });
  const principal = ctx.principal;
  return {
    id: principal.stored ? principal.id : null,
    name: principal.name,
    maySee: (m) => canSeeMessage(principal, access, m),
    mayChange: (m) => mayChangeMessage(principal, access, m),
  };
}

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
  /** New text for a message (its author's with write access, any for the owner and admins); the earlier text goes to `metadata.edits`; publishes message.updated. */
  update: authedProcedure.input(messageUpdateInput).mutation(async ({ ctx, input }) =>
    editMessage(ctx, { maxContentBytes: ctx.config.MESSAGE_MAX_BYTES }, input, await editorIn(ctx, input.id)),
  ),
  /** Delete a message (who may: as update); publishes message.deleted and empties earlier events about it. */
  delete: authedProcedure.input(messageDeleteInput).mutation(async ({ ctx, input }) => deleteMessage(ctx, input.id, await editorIn(ctx, input.id))),
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
