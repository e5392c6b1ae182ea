// Who is calling: the principal every call's context carries. Stored
// principals (users, agents, apps, admins) come from the Principal table
// through a token; with PARLEY_AUTH=off every connection is its own local
// admin; a caller without valid credentials is anonymous (one per connection)
// and is refused by every procedure but system.health and system.ping.
import type { Role } from "../../generated/prisma/client";

export type { Role } from "../../generated/prisma/client";

export interface Principal {
  id: string;
  kind: "anonymous" | "user" | "agent" | "app" | "admin";
  /** The name people see: a stored principal's display name when it set one, else its name. */
  name: string;
  /** A stored principal's chosen avatar colour (`#rrggbb`); absent or null: one derived from the id. */
  avatarColor?: string | null;
  /** null for anonymous callers. */
  role: Role | null;
  /** The token this caller authenticated with (revoking it ends the caller's streams); null otherwise. */
  tokenId: string | null;
  /** True when `id` is a row of the Principal table (it can own sessions and be a member). */
  stored: boolean;
}

/** A display name from connectionParams: trimmed, at most 64 characters; `fallback` otherwise. */
export function displayName(name: unknown, fallback: string): string {
  const trimmed = typeof name === "string" ? name.trim().slice(0, 64) : "";
  return trimmed ? trimmed : fallback;
}

export function anonymousPrincipal(connectionId: string, name: string): Principal {
  return { id: `anonymous:${connectionId}`, kind: "anonymous", name, role: null, tokenId: null, stored: false };
}

/** PARLEY_AUTH=off: an admin per connection, never stored (distinct ids keep presence and addressed events per connection). */
export function localAdminPrincipal(connectionId: string, name: string): Principal {
  return { id: `local:${connectionId}`, kind: "admin", name, role: "admin", tokenId: null, stored: false };
}

export const isAdmin = (p: Principal) => p.role === "admin";
/** Principals that may create sessions and publish (everyone signed in but viewers). */
export const canWriteAnywhere = (p: Principal) => p.role === "member" || p.role === "agent" || p.role === "admin";
