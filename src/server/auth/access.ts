// Authorization against the database: a session's owner and the caller's
// membership, turned into errors a caller can act on.
import { TRPCError } from "@trpc/server";
import type { Role } from "../../generated/prisma/client";
import type { Db } from "../db";
import { sessionAccess, type SessionAccess } from "./policy";
import type { Principal } from "./principal";

export type SessionNeed = "read" | "write" | "manage";

const needWords: Record<SessionNeed, string> = {
  read: "read it (you are not its owner or a member)",
  write: "write to it (owner, or a member with role member, agent or admin)",
  manage: "manage its members (its owner or an admin)",
};

/** The caller's access to a session; NOT_FOUND when it does not exist. */
export async function lookupSessionAccess(db: Db, principal: Principal, sessionId: string): Promise<SessionAccess> {
  const session = await db.session.findUnique({ where: { id: sessionId }, select: { id: true, ownerId: true } });
  if (!session) throw new TRPCError({ code: "NOT_FOUND", message: `session ${sessionId} does not exist` });
  let memberRole: Role | null = null;
  if (principal.stored) {
    const member = await db.sessionMember.findUnique({
      where: { sessionId_principalId: { sessionId, principalId: principal.id } },
      select: { role: true },
    });
    memberRole = member?.role ?? null;
  }
  return sessionAccess(principal, session, memberRole);
}

/** The caller's access, or FORBIDDEN naming what is missing. */
export async function requireSession(
  ctx: { db: Db; principal: Principal },
  sessionId: string,
  need: SessionNeed,
): Promise<SessionAccess> {
  const access = await lookupSessionAccess(ctx.db, ctx.principal, sessionId);
  if (!access[need]) {
    throw new TRPCError({ code: "FORBIDDEN", message: `session ${sessionId}: you may not ${needWords[need]}` });
  }
  return access;
}
