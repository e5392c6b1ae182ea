// session.*: sessions and the resumable stream of their changes.
import { TRPCError } from "@trpc/server";
import {
  sessionAddMemberInput,
  sessionCreateInput,
  sessionCreateInviteInput,
  sessionInviteByNameInput,
  sessionInvitesInput,
  sessionJoinInput,
  sessionLeaveInput,
  sessionRevokeInviteInput,
  sessionEventsInput,
  sessionGetInput,
  sessionListInput,
  sessionMembersInput,
  sessionRemoveMemberInput,
  sessionUpdateInput,
} from "../../shared/schemas";
import { requireSession } from "../auth/access";
import { createInvite, findInvite, inviteByName, joinByInvite, listInvites, revokeInvite } from "../auth/invites";
import { addMember, listMembers, removeMember } from "../auth/members";
import { canSeeMessage, readableSessionsWhere, visibleMessagesWhere } from "../auth/policy";
import { canWriteAnywhere, isAdmin } from "../auth/principal";
import { SEE_EVERYTHING } from "../realtime/subscription";
import { sessionPresence } from "./presence";
import { createSession, getSession, listSessions, updateSession } from "../services/sessions";
import { exportFile, exportSession, importSession } from "../services/session-transfer";
import { sessionExportInput, sessionImportInput } from "../../shared/transfer";
import { authedProcedure, router, streamProcedure } from "../trpc";

export const sessionRouter = router({
  /** The caller becomes the owner (viewers may not create sessions). */
  create: authedProcedure.input(sessionCreateInput).mutation(({ ctx, input }) => {
    if (!canWriteAnywhere(ctx.principal)) {
      throw new TRPCError({ code: "FORBIDDEN", message: "role viewer may not create sessions" });
    }
    return createSession(ctx, input, ctx.principal.stored ? ctx.principal.id : null);
  }),
  update: authedProcedure.input(sessionUpdateInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.id, "write");
    return updateSession(ctx, input);
  }),
  /** `messageCount` counts the messages the caller may see, and `lastSeq` is the seq of the last of them. */
  get: authedProcedure.input(sessionGetInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.id, "read");
    return getSession(ctx, input.id, visibleMessagesWhere(ctx.principal));
  }),
  /** Only sessions the caller owns, is a member of, or (admins) all; `lastSeq` is of the last message the caller may see. */
  list: authedProcedure
    .input(sessionListInput)
    .query(({ ctx, input }) => listSessions(ctx, input, readableSessionsWhere(ctx.principal), visibleMessagesWhere(ctx.principal))),
  /** Members besides the owner (readers of the session may list them). */
  members: authedProcedure.input(sessionMembersInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "read");
    return listMembers(ctx.db, input.sessionId);
  }),
  /** Owner or admin: add a member or change its role. */
  addMember: authedProcedure.input(sessionAddMemberInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "manage");
    const member = await addMember(ctx.db, input);
    ctx.auth.access.forgetSession(input.sessionId);
    return member;
  }),
  /** Owner or admin: remove a member; its live streams of the session end within a second. */
  removeMember: authedProcedure.input(sessionRemoveMemberInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "manage");
    const removed = await removeMember(ctx.db, ctx.auth.watch, input);
    ctx.auth.access.forgetSession(input.sessionId);
    return removed;
  }),
  /** Owner or admin: add the person with this name (or display name) as a member, or change their role. */
  inviteByName: authedProcedure.input(sessionInviteByNameInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "manage");
    const member = await inviteByName(ctx.storage, input);
    ctx.auth.access.forgetSession(input.sessionId);
    return member;
  }),
  /** Owner or admin: an invitation link (`path`, with its token, shown only now) that adds whoever opens it with `role`. */
  createInvite: authedProcedure.input(sessionCreateInviteInput).mutation(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "manage");
    return createInvite(ctx.db, input, ctx.principal.stored ? ctx.principal.id : null);
  }),
  /** Owner or admin: the session's invitation links (without their tokens). */
  invites: authedProcedure.input(sessionInvitesInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "manage");
    return listInvites(ctx.db, input.sessionId);
  }),
  /** Owner or admin: a revoked link adds nobody (members who joined with it stay). */
  revokeInvite: authedProcedure.input(sessionRevokeInviteInput).mutation(async ({ ctx, input }) => {
    const invite = await findInvite(ctx.db, input.id);
    await requireSession(ctx, invite.sessionId, "manage");
    return revokeInvite(ctx.db, input.id);
  }),
  /** Join the session of an invitation link (signed-in principals). */
  join: authedProcedure.input(sessionJoinInput).mutation(async ({ ctx, input }) => {
    if (!ctx.principal.stored) throw new TRPCError({ code: "FORBIDDEN", message: "sign in to join a session (PARLEY_AUTH=off has no stored principals)" });
    const joined = await joinByInvite(ctx.db, input.token, ctx.principal.id);
    ctx.auth.access.forgetSession(joined.sessionId);
    return joined;
  }),
  /** Leave a session one is a member of (its owner cannot); its streams of the session end. */
  leave: authedProcedure.input(sessionLeaveInput).mutation(async ({ ctx, input }) => {
    const access = await requireSession(ctx, input.sessionId, "read");
    if (access.isOwner) throw new TRPCError({ code: "BAD_REQUEST", message: `you own session ${input.sessionId}; an owner cannot leave it` });
    const left = await removeMember(ctx.db, ctx.auth.watch, { sessionId: input.sessionId, principalId: ctx.principal.id });
    ctx.auth.access.forgetSession(input.sessionId);
    return left;
  }),
  /** The messages the caller may see, as a file: JSON (`session.import` reads it back) or Markdown. */
  export: authedProcedure.input(sessionExportInput).query(async ({ ctx, input }) => {
    await requireSession(ctx, input.sessionId, "read");
    return exportFile(await exportSession(ctx.db, input.sessionId, visibleMessagesWhere(ctx.principal)), input.format);
  }),
  /** A JSON export as a new session the caller owns (roles but viewer). */
  import: authedProcedure.input(sessionImportInput).mutation(({ ctx, input }) => {
    if (!canWriteAnywhere(ctx.principal)) throw new TRPCError({ code: "FORBIDDEN", message: "role viewer may not create sessions" });
    return importSession(ctx, input, { id: ctx.principal.stored ? ctx.principal.id : null, maxContentBytes: ctx.config.MESSAGE_MAX_BYTES });
  }),
  /** Who is in the session now and who is typing (see routers/presence.ts). */
  presence: sessionPresence,
  /**
   * Every persisted change of the session as tracked(seq, event). Resume by
   * passing the last id seen as `lastEventId` (tRPC clients do it for you).
   */
  events: streamProcedure.input(sessionEventsInput).subscription(({ ctx, input }) => {
    ctx.stream.readsSession(input.sessionId);
    // No generator of its own: the stream is the subscription (one layer less per idle subscriber).
    return ctx.sessionStreams.open({
      sessionId: input.sessionId,
      lastEventId: input.lastEventId,
      signal: ctx.stream.signal,
      connection: ctx.connection,
      // NOT_FOUND / FORBIDDEN before the stream starts; then only what the caller may see.
      authorize: async () => {
        const access = await requireSession(ctx, input.sessionId, "read");
        const principal = ctx.principal;
        return isAdmin(principal) ? SEE_EVERYTHING : (message) => canSeeMessage(principal, access, message);
      },
    });
  }),
});
