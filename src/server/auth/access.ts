// Authorization against the database: a session's owner and the caller's
// membership, turned into errors a caller can act on.
import { TRPCError } from "@trpc/server";
import type { Prisma, Role, Visibility } from "../../generated/prisma/client";
import type { Db } from "../db";
import { canSeeMessage, sessionAccess, visibleMessagesWhere, visibleToAllWhere, type SessionAccess } from "./policy";
import type { Principal } from "./principal";
import type { AuthWatch } from "./watch";

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

/** Entries the access cache holds at most (past it the oldest go first). */
const ACCESS_CACHE_ENTRIES = 10_000;

/**
 * Recently looked-up session access per (principal, session), reused for
 * ACCESS_CACHE_MS. A busy writer then costs no database round trip per call
 * before its message is written, and (on SQLite, whose driver runs one query
 * at a time) does not queue behind the write transaction, so concurrent posts
 * reach the group commit together. Removing a member drops its entry at once
 * on every instance (the auth watch, over the bus); adding a member or
 * changing a role is seen within ACCESS_CACHE_MS. 0 turns the cache off.
 */
export class SessionAccessCache {
  /**
   * The lookup's promise is stored before it settles, so concurrent callers
   * share one lookup, and a removal while it runs deletes it rather than
   * being undone when it resolves. A failed lookup (NOT_FOUND) is not kept.
   */
  private readonly entries = new Map<string, { access: Promise<SessionAccess>; at: number }>();

  constructor(
    private readonly ttlMs: number,
    watch: AuthWatch,
  ) {
    watch.on((change) => {
      if (change.type === "member.removed") this.entries.delete(key(change.principalId, change.sessionId));
      else this.forgetPrincipal(change.principalId);
    });
  }

  lookup(db: Db, principal: Principal, sessionId: string): Promise<SessionAccess> {
    if (this.ttlMs <= 0) return lookupSessionAccess(db, principal, sessionId);
    const k = key(cacheIdentity(principal), sessionId);
    const now = performance.now();
    const hit = this.entries.get(k);
    if (hit && now - hit.at < this.ttlMs) return hit.access;
    const entry = { access: lookupSessionAccess(db, principal, sessionId), at: now };
    entry.access.catch(() => {
      if (this.entries.get(k) === entry) this.entries.delete(k);
    });
    this.entries.delete(k);
    this.entries.set(k, entry);
    // Oldest first (insertion order): drop a couple of expired ones per
    // insert, so the map holds about what was used within the TTL.
    let dropped = 0;
    for (const [oldKey, old] of this.entries) {
      if (dropped >= 2 || (now - old.at < this.ttlMs && this.entries.size <= ACCESS_CACHE_ENTRIES)) break;
      this.entries.delete(oldKey);
      dropped++;
    }
    return entry.access;
  }

  /** Forget every cached access to `sessionId` (its members changed here). */
  forgetSession(sessionId: string): void {
    for (const k of this.entries.keys()) if (k.endsWith(`\u0000${sessionId}`)) this.entries.delete(k);
  }

  private forgetPrincipal(principalId: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(`${principalId}\u0000`)) this.entries.delete(k);
  }
}

const key = (principalId: string, sessionId: string) => `${principalId}\u0000${sessionId}`;

/**
 * Whose access an entry holds. A principal that is not stored (PARLEY_AUTH=off
 * gives each connection its own admin) is never a session's owner or member,
 * so its access depends on its role alone: its connections share entries.
 */
function cacheIdentity(principal: Principal): string {
  return principal.stored ? principal.id : `unstored:${principal.kind}:${principal.role ?? "none"}`;
}

/** The caller's access (through the access cache), or FORBIDDEN naming what is missing. */
export async function requireSession(
  ctx: { db: Db; principal: Principal; auth: { access: SessionAccessCache } },
  sessionId: string,
  need: SessionNeed,
): Promise<SessionAccess> {
  const access = await ctx.auth.access.lookup(ctx.db, ctx.principal, sessionId);
  if (!access[need]) {
    throw new TRPCError({ code: "FORBIDDEN", message: `session ${sessionId}: you may not ${needWords[need]}` });
  }
  return access;
}

const readerFields = { id: true, kind: true, name: true, role: true, disabledAt: true } as const;

/**
 * What a chat run asked by `ctx.principal` may read (the history sent to the
 * provider, the built-in assistant's retrieval): the messages the asker and
 * every reader of its answer may see. The answer inherits its question's
 * visibility and author, so its readers are the session's owner and members
 * who may see the question, as they are now (admins see everything and
 * restrict nothing). Without this, a public answer to an admin's question
 * could quote a private message to every member.
 */
export async function answerScope(
  ctx: { db: Db; principal: Principal; auth: { enabled: boolean } },
  sessionId: string,
  question: { visibility: Visibility; authorId: string | null },
): Promise<Prisma.MessageWhereInput> {
  // PARLEY_AUTH=off: every caller, and so every reader, is an admin.
  if (!ctx.auth.enabled) return visibleMessagesWhere(ctx.principal);
  const session = await ctx.db.session.findUnique({
    where: { id: sessionId },
    select: { id: true, ownerId: true, owner: { select: readerFields }, members: { select: { role: true, principal: { select: readerFields } } } },
  });
  // A missing session fails the send itself (NOT_FOUND); nothing is read.
  if (!session) return { id: { in: [] } };
  const memberRoles = new Map(session.members.map((m) => [m.principal.id, m.role]));
  const rows = new Map(session.members.map((m) => [m.principal.id, m.principal]));
  if (session.owner) rows.set(session.owner.id, session.owner);
  const readers = [...rows.values()]
    .filter((row) => row.disabledAt === null)
    .map((row): Principal => ({ id: row.id, kind: row.kind, name: row.name, role: row.role, tokenId: null, stored: true }))
    .filter((reader) => canSeeMessage(reader, sessionAccess(reader, session, memberRoles.get(reader.id) ?? null), question));
  return visibleToAllWhere([ctx.principal, ...readers]);
}
