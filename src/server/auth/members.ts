// Session membership: who besides the owner may read or write a session.
// Removing a member is announced on the auth channel, so that principal's
// live streams of the session end within the second (see watch.ts).
import { TRPCError } from "@trpc/server";
import type { z } from "zod";
import type { sessionAddMemberInput, sessionRemoveMemberInput } from "../../shared/schemas";
import type { Db } from "../db";
import type { AuthWatch } from "./watch";

/** Add (or change the role of) a member. */
export async function addMember(db: Db, input: z.output<typeof sessionAddMemberInput>) {
  const principal = await db.principal.findUnique({ where: { id: input.principalId }, select: { id: true } });
  if (!principal) throw new TRPCError({ code: "NOT_FOUND", message: `principal ${input.principalId} does not exist` });
  return db.sessionMember.upsert({
    where: { sessionId_principalId: { sessionId: input.sessionId, principalId: input.principalId } },
    create: { sessionId: input.sessionId, principalId: input.principalId, role: input.role },
    update: { role: input.role },
  });
}

/** Remove a member; its live streams of the session end. */
export async function removeMember(db: Db, watch: AuthWatch, input: z.output<typeof sessionRemoveMemberInput>) {
  const removed = await db.sessionMember.deleteMany({ where: { sessionId: input.sessionId, principalId: input.principalId } });
  if (removed.count === 0) {
    throw new TRPCError({ code: "NOT_FOUND", message: `principal ${input.principalId} is not a member of session ${input.sessionId}` });
  }
  watch.publish({ type: "member.removed", sessionId: input.sessionId, principalId: input.principalId });
  return { sessionId: input.sessionId, principalId: input.principalId };
}

export function listMembers(db: Db, sessionId: string) {
  return db.sessionMember.findMany({
    where: { sessionId },
    orderBy: { createdAt: "asc" },
    select: { principalId: true, role: true, createdAt: true, principal: { select: { name: true, kind: true, displayName: true, avatarColor: true } } },
  });
}
