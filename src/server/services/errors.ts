// Mapping storage failures to errors a caller can act on.
import { TRPCError } from "@trpc/server";

/** Prisma's "record to update/find not found" code. */
const RECORD_NOT_FOUND = "P2025";

export function isRecordNotFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && error.code === RECORD_NOT_FOUND;
}

/** Prisma's "unique constraint failed" code. */
const UNIQUE_VIOLATION = "P2002";

/** Prisma's "raw query failed" code; the driver adapter's error says why. */
const RAW_QUERY_FAILED = "P2010";

/** PostgreSQL's SQLSTATE for unique_violation, as pg reports it. */
const PG_UNIQUE_VIOLATION = "23505";

/** A unique constraint refused a write: Prisma's model API (P2002), a raw statement (P2010 from the driver adapter), or better-sqlite3 or pg directly. */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== "object" || error === null || !("code" in error)) return false;
  if (error.code === UNIQUE_VIOLATION || error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === PG_UNIQUE_VIOLATION) return true;
  if (error.code !== RAW_QUERY_FAILED || !("meta" in error)) return false;
  const meta = error.meta as { driverAdapterError?: { cause?: { kind?: unknown } } } | undefined;
  return meta?.driverAdapterError?.cause?.kind === "UniqueConstraintViolation";
}

/** SQLite refused a write because another connection holds the lock (the message writer retries). */
export function isSqliteBusy(error: unknown): boolean {
  return typeof error === "object" && error !== null && "code" in error && (error.code === "SQLITE_BUSY" || error.code === "SQLITE_BUSY_SNAPSHOT");
}

export function sessionNotFound(id: string): TRPCError {
  return new TRPCError({ code: "NOT_FOUND", message: `session ${id} does not exist` });
}

/** Run `write`, turning Prisma's not-found into NOT_FOUND for `sessionId`. */
export async function inSession<T>(sessionId: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isRecordNotFound(error)) throw sessionNotFound(sessionId);
    throw error;
  }
}

/**
 * A `clientKey` that names a message the caller may not see (someone else's
 * private message): refused, so a guessed key reveals nothing.
 */
export function clientKeyTaken(sessionId: string, clientKey: string | undefined): TRPCError {
  return new TRPCError({
    code: "CONFLICT",
    message: `clientKey ${clientKey ?? ""} is already used in session ${sessionId} by another author; generate a new key for a new message`,
  });
}

/**
 * What a post or chat.send returns: the caller's own message whatever its
 * visibility; a message another author stored under the same `clientKey`
 * only if the caller may see it (`canSee`), else CONFLICT.
 */
export function requireOwnOrVisible<M extends { authorId: string | null }>(
  message: M,
  callerId: string,
  canSee: (message: M) => boolean,
  input: { sessionId: string; clientKey?: string },
): M {
  if (message.authorId !== callerId && !canSee(message)) throw clientKeyTaken(input.sessionId, input.clientKey);
  return message;
}
