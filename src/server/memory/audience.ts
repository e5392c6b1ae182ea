// Who may read and change a memory: one rule, in two forms (an SQL condition
// for ranked and listed reads, a predicate for live events), tested together
// by the authorization matrix.
//
//   readers of the scope   session: the session's readers (auth/policy.ts);
//                          principal: that principal and the author;
//                          global, agent: every signed-in principal
//   visibility             public: the scope's readers; private: of those, the
//                          author and the scope's owner (the session owner, the
//                          principal); agent_only: of those, role agent
//   admins                 everything
//   store                  not viewers; session scope needs write access;
//                          another principal's scope is for admins
//   update, delete         the author, the scope's owner, admins (and only
//                          what the caller can read: NOT_FOUND otherwise)
import { TRPCError } from "@trpc/server";
import { Prisma, type MemoryScope, type Visibility } from "../../generated/prisma/client";
import type { MemoryScopeInput } from "../../shared/memory";
import type { SessionAccess } from "../auth/policy";
import { canWriteAnywhere, isAdmin, type Principal } from "../auth/principal";

/** What decides who sees a memory: its scope and visibility, and who wrote it. */
export interface MemoryAudience {
  scope: MemoryScope;
  sessionId: string | null;
  agentId: string | null;
  principalId: string | null;
  authorId: string | null;
  visibility: Visibility;
}

/**
 * SQL condition on the memory table aliased `m`: the memories `principal`
 * may read. Enum values are literals (a bound text parameter does not compare
 * with a PostgreSQL enum).
 */
export function readableMemorySql(principal: Principal): Prisma.Sql {
  if (isAdmin(principal)) return Prisma.sql`1 = 1`;
  if (!principal.stored) return Prisma.sql`1 = 0`;
  const me = principal.id;
  const agentOnly = principal.role === "agent" ? Prisma.sql` OR m."visibility" = 'agent_only'` : Prisma.empty;
  const ownedSession = Prisma.sql`m."sessionId" IN (SELECT "id" FROM "Session" WHERE "ownerId" = ${me})`;
  const memberSession = Prisma.sql`m."sessionId" IN (SELECT "sessionId" FROM "SessionMember" WHERE "principalId" = ${me})`;
  return Prisma.sql`(
    (m."scope" = 'session' AND (${ownedSession} OR ${memberSession})
      AND (m."visibility" = 'public' OR (m."visibility" = 'private' AND (m."authorId" = ${me} OR ${ownedSession}))${agentOnly}))
    OR (m."scope" IN ('global', 'agent')
      AND (m."visibility" = 'public' OR (m."visibility" = 'private' AND m."authorId" = ${me})${agentOnly}))
    OR (m."scope" = 'principal' AND (m."principalId" = ${me} OR m."authorId" = ${me})
      AND (m."visibility" <> 'agent_only'${agentOnly}))
  )`;
}

/**
 * The predicate form of `readableMemorySql`. `session` is the caller's access
 * to the memory's session (scope session only; null when it does not exist).
 */
export function canSeeMemory(principal: Principal, memory: MemoryAudience, session: Pick<SessionAccess, "read" | "ownerId"> | null): boolean {
  if (isAdmin(principal)) return true;
  if (!principal.stored) return false;
  const me = principal.id;
  const agent = principal.role === "agent";
  switch (memory.scope) {
    case "session":
      if (!session?.read) return false;
      return memory.visibility === "public" || (memory.visibility === "private" ? memory.authorId === me || session.ownerId === me : agent);
    case "global":
    case "agent":
      return memory.visibility === "public" || (memory.visibility === "private" ? memory.authorId === me : agent);
    case "principal":
      if (memory.principalId !== me && memory.authorId !== me) return false;
      return memory.visibility !== "agent_only" || agent;
  }
}

/** May `principal`, who can see the memory, change or delete it? (`session`: its access to a session-scoped memory's session.) */
export function canChangeMemory(principal: Principal, memory: MemoryAudience, session: Pick<SessionAccess, "manage"> | null): boolean {
  if (isAdmin(principal)) return true;
  if (principal.role === "viewer") return false;
  if (memory.authorId !== null && memory.authorId === principal.id) return true;
  if (memory.scope === "session") return session?.manage ?? false;
  return memory.scope === "principal" && memory.principalId === principal.id;
}

/** The scope a store or filter names, with `principal` resolved to the caller; FORBIDDEN/PRECONDITION_FAILED as the rules say. */
export function resolveScope(principal: Principal, scope: MemoryScopeInput): Pick<MemoryAudience, "scope" | "sessionId" | "agentId" | "principalId"> {
  switch (scope.kind) {
    case "global":
      return { scope: "global", sessionId: null, agentId: null, principalId: null };
    case "session":
      return { scope: "session", sessionId: scope.sessionId, agentId: null, principalId: null };
    case "agent":
      return { scope: "agent", sessionId: null, agentId: scope.agentId, principalId: null };
    case "principal": {
      const principalId = scope.principalId ?? principal.id;
      if (!principal.stored && scope.principalId === undefined) {
        throw new TRPCError({
          code: "PRECONDITION_FAILED",
          message: "scope principal needs a signed-in principal (with PARLEY_AUTH=off callers are not stored); name principalId or use another scope",
        });
      }
      return { scope: "principal", sessionId: null, agentId: null, principalId };
    }
  }
}

/** Store rules that need no database: viewers never; another principal's scope only for admins. */
export function requireMayStore(principal: Principal, audience: Pick<MemoryAudience, "scope" | "principalId">): void {
  if (!canWriteAnywhere(principal)) throw new TRPCError({ code: "FORBIDDEN", message: "role viewer may not store memories" });
  if (audience.scope === "principal" && audience.principalId !== principal.id && !isAdmin(principal)) {
    throw new TRPCError({ code: "FORBIDDEN", message: "only admins may store memories in another principal's scope" });
  }
}

/** SQL condition (table alias `m`) for a scope filter. */
export function scopeFilterSql(scope: ReturnType<typeof resolveScope> | null): Prisma.Sql {
  if (!scope) return Prisma.sql`1 = 1`;
  switch (scope.scope) {
    case "global":
      return Prisma.sql`m."scope" = 'global'`;
    case "session":
      return Prisma.sql`(m."scope" = 'session' AND m."sessionId" = ${scope.sessionId})`;
    case "agent":
      return Prisma.sql`(m."scope" = 'agent' AND m."agentId" = ${scope.agentId})`;
    case "principal":
      return Prisma.sql`(m."scope" = 'principal' AND m."principalId" = ${scope.principalId})`;
  }
}

/** Whether an audience is in a scope filter (the live form of `scopeFilterSql`). */
export function inScope(audience: MemoryAudience, scope: ReturnType<typeof resolveScope> | null): boolean {
  if (!scope) return true;
  if (audience.scope !== scope.scope) return false;
  return audience.sessionId === scope.sessionId && audience.agentId === scope.agentId && audience.principalId === scope.principalId;
}
