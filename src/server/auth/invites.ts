// Sharing a session: inviting a person by name, invitation links that the
// session's managers create and revoke (only the token's SHA-256 is stored;
// the link is shown once), joining with one, and leaving. Membership itself
// is members.ts; who may call what is the routers' (session manage, or signed in).
import { TRPCError } from "@trpc/server";
import type { z } from "zod";
import type { Role } from "../../generated/prisma/client";
import type { sessionCreateInviteInput, sessionInviteByNameInput } from "../../shared/schemas";
import { textContains, type Db, type Storage } from "../db";
import { addMember } from "./members";
import { generateToken, hashToken } from "./tokens";

/** Where an invitation's token goes in a link (the web UI's page). */
export const invitePath = (token: string) => `/invite/${token}`;

const roleRank: Record<Role, number> = { viewer: 0, member: 1, agent: 2, admin: 3 };

/** Add the person named `name` (their name or display name, case-insensitive; people before machines). */
export async function inviteByName({ db, dialect }: Pick<Storage, "db" | "dialect">, input: z.output<typeof sessionInviteByNameInput>) {
  const wanted = input.name.toLowerCase();
  // Narrowed in the database (case-insensitive substring), matched exactly here.
  const like = textContains(dialect, input.name);
  const candidates = await db.principal.findMany({
    where: { disabledAt: null, OR: [{ name: like }, { displayName: like }] },
    select: { id: true, name: true, displayName: true, kind: true },
    take: 1_000,
  });
  const matches = candidates.filter((p) => p.name.toLowerCase() === wanted || p.displayName?.toLowerCase() === wanted);
  const people = matches.filter((p) => p.kind === "user" || p.kind === "admin");
  const chosen = people.length > 0 ? people : matches;
  if (chosen.length === 0) throw new TRPCError({ code: "NOT_FOUND", message: `nobody is called "${input.name}"; check the spelling, or send an invitation link` });
  if (chosen.length > 1) {
    throw new TRPCError({ code: "CONFLICT", message: `${chosen.length} principals are called "${input.name}"; add the one you mean by id (session.addMember)` });
  }
  const [person] = chosen;
  const member = await addMember(db, { sessionId: input.sessionId, principalId: person!.id, role: input.role });
  return { ...member, name: person!.displayName ?? person!.name };
}

export async function createInvite(db: Db, input: z.output<typeof sessionCreateInviteInput>, createdById: string | null) {
  const token = generateToken();
  const invite = await db.sessionInvite.create({
    data: { sessionId: input.sessionId, role: input.role, hash: hashToken(token), createdById },
    select: inviteFields,
  });
  return { ...invite, token, path: invitePath(token) };
}

const inviteFields = { id: true, sessionId: true, role: true, createdById: true, createdAt: true, revokedAt: true, uses: true } as const;

/** A session's invitation links, newest first (never their tokens). */
export function listInvites(db: Db, sessionId: string) {
  return db.sessionInvite.findMany({ where: { sessionId }, orderBy: { createdAt: "desc" }, select: inviteFields });
}

/** The invitation, for the caller to check it may manage its session. */
export async function findInvite(db: Db, id: string) {
  const invite = await db.sessionInvite.findUnique({ where: { id }, select: inviteFields });
  if (!invite) throw new TRPCError({ code: "NOT_FOUND", message: `invitation ${id} does not exist` });
  return invite;
}

export function revokeInvite(db: Db, id: string) {
  return db.sessionInvite.update({ where: { id }, data: { revokedAt: new Date() }, select: inviteFields });
}

/**
 * Join the session of an invitation link as `principalId`. The session's owner
 * and a member with a higher role keep what they have; a revoked or unknown
 * link is NOT_FOUND (it says nothing about the session).
 */
export async function joinByInvite(db: Db, token: string, principalId: string) {
  const invite = await db.sessionInvite.findUnique({ where: { hash: hashToken(token) }, include: { session: { select: { id: true, title: true, ownerId: true } } } });
  if (!invite || invite.revokedAt) throw new TRPCError({ code: "NOT_FOUND", message: "this invitation link is unknown or was revoked; ask for a new one" });
  const { session } = invite;
  const existing = await db.sessionMember.findUnique({ where: { sessionId_principalId: { sessionId: session.id, principalId } }, select: { role: true } });
  let role: Role | "owner" = invite.role;
  if (session.ownerId === principalId) role = "owner";
  else if (existing && roleRank[existing.role] >= roleRank[invite.role]) role = existing.role;
  else {
    await addMember(db, { sessionId: session.id, principalId, role: invite.role });
    await db.sessionInvite.update({ where: { id: invite.id }, data: { uses: { increment: 1 } } });
  }
  return { sessionId: session.id, title: session.title, role };
}
