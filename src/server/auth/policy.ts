// The authorization rules, as pure functions and Prisma filters. One place
// answers "may this principal read/write/manage this session" and "may it see
// this message"; routers and services call these, never re-derive them.
//
//   session read    owner, any member, admins
//   session write   owner, members with role member|agent|admin, admins (never a global viewer)
//   session manage  owner, admins (membership changes)
//   message public      everyone who can read the session
//   message private     its author and the session owner (and admins)
//   message agent_only  principals with role agent (that can read the session) and admins
//   edit/delete msg     its author (who may still write), the session owner, admins
//   post role user      everyone who can write; other roles (system, assistant,
//                       agent, tool) speak for a machine: admins and role agent
import type { MessageRole, Prisma, Role, Visibility } from "../../generated/prisma/client";
import { isAdmin, type Principal } from "./principal";

export interface SessionAccess {
  sessionId: string;
  ownerId: string | null;
  /** The caller's membership role in this session, if a member. */
  memberRole: Role | null;
  isOwner: boolean;
  read: boolean;
  write: boolean;
  manage: boolean;
}

export function sessionAccess(
  principal: Principal,
  session: { id: string; ownerId: string | null },
  memberRole: Role | null,
): SessionAccess {
  const admin = isAdmin(principal);
  const isOwner = session.ownerId !== null && session.ownerId === principal.id;
  const globalViewer = principal.role === "viewer" || principal.role === null;
  const read = admin || isOwner || memberRole !== null;
  const write = admin || (!globalViewer && (isOwner || (memberRole !== null && memberRole !== "viewer")));
  return { sessionId: session.id, ownerId: session.ownerId, memberRole, isOwner, read, write, manage: admin || isOwner };
}

/**
 * Whether `principal` may post a message with `role`. A `system` message
 * reaches the model as a real system turn and an `assistant` one as its own
 * words; `agent` and `tool` are shown as a machine's. People post as `user`.
 */
export function mayPostRole(principal: Principal, role: MessageRole): boolean {
  return role === "user" || isAdmin(principal) || principal.role === "agent";
}

/** Whether `principal`, who can read the message's session (`access`), may see the message. */
export function canSeeMessage(
  principal: Principal,
  access: Pick<SessionAccess, "read" | "ownerId">,
  message: { visibility: Visibility; authorId: string | null },
): boolean {
  if (!access.read) return false;
  if (isAdmin(principal)) return true;
  switch (message.visibility) {
    case "public":
      return true;
    case "private":
      return (message.authorId !== null && message.authorId === principal.id) || access.ownerId === principal.id;
    case "agent_only":
      return principal.role === "agent";
  }
}

/**
 * Whether `principal` may edit or delete the message: one it may see, in a
 * session it may write to, that it posted (an answer counts as its asker's),
 * or any as the session's owner or an admin.
 */
export function mayChangeMessage(
  principal: Principal,
  access: Pick<SessionAccess, "read" | "write" | "manage" | "ownerId">,
  message: { visibility: Visibility; authorId: string | null },
): boolean {
  if (!access.write || !canSeeMessage(principal, access, message)) return false;
  return access.manage || (message.authorId !== null && message.authorId === principal.id);
}

/** Sessions the principal can read, as a Prisma filter (admins: all). */
export function readableSessionsWhere(principal: Principal): Prisma.SessionWhereInput {
  if (isAdmin(principal)) return {};
  if (!principal.stored) return { id: { in: [] } };
  return { OR: [{ ownerId: principal.id }, { members: { some: { principalId: principal.id } } }] };
}

/**
 * Messages the principal may see, in any session, as a Prisma filter: the
 * session is readable and the visibility rules allow it. Used by message.list,
 * counts, the built-in assistant's retrieval and the chat history sent to providers.
 */
export function visibleMessagesWhere(principal: Principal): Prisma.MessageWhereInput {
  if (isAdmin(principal)) return {};
  if (!principal.stored) return { id: { in: [] } };
  const visibility: Prisma.MessageWhereInput[] = [
    { visibility: "public" },
    { visibility: "private", authorId: principal.id },
    { visibility: "private", session: { ownerId: principal.id } },
  ];
  if (principal.role === "agent") visibility.push({ visibility: "agent_only" });
  return { AND: [{ session: readableSessionsWhere(principal) }, { OR: visibility }] };
}

/**
 * Messages that every one of `principals` may see, as a Prisma filter (admins
 * add no condition): what may be quoted to all of them (auth/access.ts answerScope).
 */
export function visibleToAllWhere(principals: readonly Principal[]): Prisma.MessageWhereInput {
  const conditions = principals.filter((p) => !isAdmin(p)).map(visibleMessagesWhere);
  return conditions.length === 0 ? {} : { AND: conditions };
}
