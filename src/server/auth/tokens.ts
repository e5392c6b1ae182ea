// API tokens: random, shown once, stored only as SHA-256 hashes. One table
// holds the three kinds: `api` (Bearer / connectionParams.token), `cookie`
// (the web UI session) and `signin` (the one-time first-start link).
import { createHash, randomBytes } from "node:crypto";
import type { ApiToken, PrincipalKind, Role, TokenKind } from "../../generated/prisma/client";
import type { Db } from "../db";
import type { Principal } from "./principal";

/** Recognisable in logs and secret scanners; 32 random bytes after it. */
const TOKEN_PREFIX = "pt_";

export function generateToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A token as listed: never its hash, never the token. */
export type TokenInfo = Omit<ApiToken, "hash"> & { principal: { id: string; name: string; kind: PrincipalKind; role: Role } };

const listed = {
  id: true,
  principalId: true,
  name: true,
  kind: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
  lastUsedAt: true,
  principal: { select: { id: true, name: true, kind: true, role: true } },
} as const;

export async function createToken(
  db: Db,
  opts: { principalId: string; name: string; kind: TokenKind; expiresAt: Date | null },
): Promise<{ token: string; info: TokenInfo }> {
  const token = generateToken();
  const info = await db.apiToken.create({
    data: { principalId: opts.principalId, name: opts.name, kind: opts.kind, hash: hashToken(token), expiresAt: opts.expiresAt },
    select: listed,
  });
  return { token, info };
}

const kindForRole = (role: Role): PrincipalKind => (role === "admin" ? "admin" : role === "agent" ? "agent" : "app");

/** A new principal (agent, app or admin, from its role) with one API token. The token is returned once. */
export async function createPrincipalWithToken(
  db: Db,
  opts: { name: string; role: Role; expiresAt: Date | null; kind?: PrincipalKind },
): Promise<{ token: string; info: TokenInfo }> {
  const principal = await db.principal.create({
    data: { name: opts.name, role: opts.role, kind: opts.kind ?? kindForRole(opts.role) },
  });
  return createToken(db, { principalId: principal.id, name: opts.name, kind: "api", expiresAt: opts.expiresAt });
}

export function listTokens(db: Db, opts: { includeRevoked?: boolean } = {}): Promise<TokenInfo[]> {
  return db.apiToken.findMany({
    where: { kind: "api", ...(opts.includeRevoked ? {} : { revokedAt: null }) },
    orderBy: { createdAt: "asc" },
    select: listed,
  });
}

/** Revoke a token; null when there is no such token. Already revoked: returned unchanged. */
export async function revokeToken(db: Db, id: string): Promise<TokenInfo | null> {
  const existing = await db.apiToken.findUnique({ where: { id }, select: listed });
  if (!existing) return null;
  if (existing.revokedAt) return existing;
  return db.apiToken.update({ where: { id }, data: { revokedAt: new Date() }, select: listed });
}

/** Why a presented token does not authenticate (never says whether it exists). */
export type TokenRejection = "invalid, expired or revoked";

/**
 * The principal a token stands for, or null. `kinds` are the token kinds
 * accepted on this path (a sign-in link never authenticates an API call).
 */
export async function principalForToken(db: Db, token: string, kinds: readonly TokenKind[]): Promise<Principal | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db.apiToken.findUnique({
    where: { hash: hashToken(token) },
    select: { id: true, kind: true, expiresAt: true, revokedAt: true, lastUsedAt: true, principal: true },
  });
  if (!row || !kinds.includes(row.kind) || row.revokedAt || row.principal.disabledAt) return null;
  if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return null;
  // Best effort, at most once a minute per token: not worth a write per call.
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  }
  const p = row.principal;
  return { id: p.id, kind: p.kind, name: p.displayName ?? p.name, avatarColor: p.avatarColor, role: p.role, tokenId: row.id, stored: true };
}

/**
 * Use a one-time sign-in token: revoke it (so it works once) and return its
 * principal. Atomic: two concurrent uses cannot both succeed.
 */
export async function consumeSignInToken(db: Db, token: string): Promise<Principal | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const hash = hashToken(token);
  const now = new Date();
  const used = await db.apiToken.updateMany({
    where: { hash, kind: "signin", revokedAt: null, OR: [{ expiresAt: null }, { expiresAt: { gt: now } }] },
    data: { revokedAt: now, lastUsedAt: now },
  });
  if (used.count !== 1) return null;
  const row = await db.apiToken.findUnique({ where: { hash }, select: { principal: true } });
  if (!row || row.principal.disabledAt) return null;
  const p = row.principal;
  return { id: p.id, kind: p.kind, name: p.displayName ?? p.name, avatarColor: p.avatarColor, role: p.role, tokenId: null, stored: true };
}

/**
 * First start: with no principal at all, create the admin and a one-time
 * sign-in token. Returns the token, or null when principals exist.
 */
export async function ensureFirstAdmin(db: Db, signInTtlMs: number): Promise<string | null> {
  if ((await db.principal.count()) > 0) return null;
  const admin = await db.principal.create({ data: { name: "admin", kind: "admin", role: "admin" } });
  return signInTokenFor(db, admin.id, signInTtlMs);
}

/** A fresh one-time sign-in token for a principal. */
export async function signInTokenFor(db: Db, principalId: string, ttlMs: number): Promise<string> {
  const { token } = await createToken(db, { principalId, name: "sign-in link", kind: "signin", expiresAt: new Date(Date.now() + ttlMs) });
  return token;
}
