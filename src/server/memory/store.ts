// The memory store: store, update, delete, get and list, under the rules of
// audience.ts. Each write runs in one transaction with its change row (the
// full-text index follows in the same transaction: triggers on SQLite, a
// generated column on PostgreSQL) and is published after commit. Writes are
// serialized (SQLite by itself, PostgreSQL by an advisory lock), so change
// seqs commit in order and a live subscriber can trust a gap-free sequence.
import { TRPCError } from "@trpc/server";
import type { Logger } from "pino";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import type { z } from "zod";
import { Prisma } from "../../generated/prisma/client";
import type { MemoryItem, memoryListInput, memoryStoreInput, memoryUpdateInput } from "../../shared/memory";
import { tooManyRequests } from "../auth/limits";
import type { SessionAccess } from "../auth/policy";
import type { Principal } from "../auth/principal";
import type { Bus } from "../bus/bus";
import type { Storage } from "../db";
import { isSqliteBusy } from "../services/errors";
import { newId } from "../services/ids";
import { canChangeMemory, canSeeMemory, readableMemorySql, requireMayStore, resolveScope, scopeFilterSql, type MemoryAudience } from "./audience";
import { memoryChannel, type MemoryChangeMessage } from "./changes";
import { deleteMemorySqlite, insertMemorySqlite, updateMemorySqlite } from "./sqlite-writes";

/** Who calls, and how to learn its access to a session (through the access cache). */
export interface MemoryCaller {
  principal: Principal;
  /** NOT_FOUND when the session does not exist. */
  sessionAccess(sessionId: string): Promise<SessionAccess>;
}

export interface MemoryStoreLimits {
  /** MEMORY_MAX_BYTES. */
  maxBytes: number;
  /** MEMORY_WRITES_PER_MINUTE, per principal. */
  writesPerMinute: number;
  /** MEMORY_EVENTS_MAX_COUNT. */
  changesKept: number;
}

export const memorySelect = {
  seq: true,
  id: true,
  title: true,
  content: true,
  metadata: true,
  scope: true,
  sessionId: true,
  agentId: true,
  principalId: true,
  authorId: true,
  visibility: true,
  embeddingModel: true,
  createdAt: true,
  updatedAt: true,
  tags: { select: { tag: true }, orderBy: { tag: "asc" } },
} satisfies Prisma.MemorySelect;
export type MemoryRow = Prisma.MemoryGetPayload<{ select: typeof memorySelect }>;

/** A row as the API shows it; `embedded` against the configured model (null: none configured). */
export function toMemoryItem(row: MemoryRow, embeddingModel: string | null): MemoryItem {
  return {
    id: row.id,
    title: row.title,
    content: row.content,
    metadata: row.metadata,
    tags: row.tags.map((t) => t.tag),
    scope: { kind: row.scope, sessionId: row.sessionId, agentId: row.agentId, principalId: row.principalId },
    authorId: row.authorId,
    visibility: row.visibility,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    embedded: embeddingModel !== null && row.embeddingModel === embeddingModel,
  };
}

/** Any constant: the advisory lock that serializes memory writes on PostgreSQL. */
const WRITE_LOCK_KEY = 72_616_002;
/** SQLite: while Prisma's connection holds the write lock, try again this often, for at most this long. */
const BUSY_RETRY_MS = 2;
const BUSY_GIVE_UP_MS = 10_000;

export interface MemoryStoreDeps {
  /** The database; on SQLite, writes run on its synchronous connection (sqlite-writes.ts). */
  storage: Storage;
  bus: Bus;
  log: Logger;
  limits: MemoryStoreLimits;
  /** The configured embeddings model (`provider:model`), or null. */
  embeddingModel: string | null;
  /** Called after a memory's text was stored or changed (the embedder queues it). */
  onText?: (seq: number) => void;
}

export class MemoryStore {
  private readonly writes: RateLimiterMemory;

  constructor(private readonly deps: MemoryStoreDeps) {
    this.writes = new RateLimiterMemory({ keyPrefix: "memory-writes", points: deps.limits.writesPerMinute, duration: 60 });
  }

  item(row: MemoryRow): MemoryItem {
    return toMemoryItem(row, this.deps.embeddingModel);
  }

  async store(caller: MemoryCaller, input: z.output<typeof memoryStoreInput>): Promise<MemoryItem> {
    this.requireSize(input.content);
    const { principal } = caller;
    const placed = resolveScope(principal, input.scope);
    requireMayStore(principal, placed);
    const { db, sqlite } = this.deps.storage;
    if (placed.sessionId !== null) {
      const access = await caller.sessionAccess(placed.sessionId);
      if (!access.write) throw new TRPCError({ code: "FORBIDDEN", message: `session ${placed.sessionId}: you may not write to it, so you may not store memories in it` });
    }
    if (placed.agentId !== null && !(await db.agent.findUnique({ where: { id: placed.agentId }, select: { id: true } }))) {
      throw new TRPCError({ code: "NOT_FOUND", message: `agent ${placed.agentId} does not exist` });
    }
    if (placed.principalId !== null && !(await db.principal.findUnique({ where: { id: placed.principalId }, select: { id: true } }))) {
      throw new TRPCError({ code: "NOT_FOUND", message: `principal ${placed.principalId} does not exist` });
    }
    await this.takeWrite(principal);
    const authorId = principal.stored ? principal.id : null;
    const audience: MemoryAudience = { ...placed, authorId, visibility: input.visibility };
    if (sqlite) {
      const now = new Date();
      const memory: MemoryItem = {
        id: newId(),
        title: input.title || null,
        content: input.content,
        metadata: input.metadata ?? {},
        tags: [...new Set(input.tags)].sort(),
        scope: { kind: audience.scope, sessionId: audience.sessionId, agentId: audience.agentId, principalId: audience.principalId },
        authorId,
        visibility: input.visibility,
        createdAt: now,
        updatedAt: now,
        embedded: false,
      };
      const { seq, change } = await whileBusy(() => insertMemorySqlite(sqlite, memory, audience, this.deps.limits.changesKept));
      this.publish({ seq: change, type: "created", memoryId: memory.id, memorySeq: seq, audience, audienceChanged: false, memory });
      this.deps.onText?.(seq);
      return memory;
    }
    const { row, change } = await this.write(async (tx) => {
      const row = await tx.memory.create({
        data: {
          title: input.title || null,
          content: input.content,
          metadata: input.metadata ?? {},
          ...audience,
          tags: { create: [...new Set(input.tags)].map((tag) => ({ tag })) },
        },
        select: memorySelect,
      });
      const change = await this.recordChange(tx, "created", row.id, audience, false);
      return { row, change };
    });
    this.publish({ seq: change, type: "created", memoryId: row.id, memorySeq: row.seq, audience, audienceChanged: false, memory: this.item(row) });
    this.deps.onText?.(row.seq);
    return this.item(row);
  }

  async update(caller: MemoryCaller, input: z.output<typeof memoryUpdateInput>): Promise<MemoryItem> {
    if (input.content !== undefined) this.requireSize(input.content);
    const before = await this.changeable(caller, input.id);
    await this.takeWrite(caller.principal);
    const data: Prisma.MemoryUpdateInput = {};
    if (input.content !== undefined && input.content !== before.content) {
      Object.assign(data, { content: input.content, embedding: null, embeddingModel: null, embeddedAt: null, embedAttempts: 0, embedError: null });
    }
    if (input.title !== undefined) data.title = input.title || null;
    if (input.metadata !== undefined) data.metadata = input.metadata;
    if (input.visibility !== undefined) data.visibility = input.visibility;
    if (input.tags !== undefined) data.tags = { deleteMany: {}, create: [...new Set(input.tags)].map((tag) => ({ tag })) };
    const textChanged = data.content !== undefined || (input.title !== undefined && (input.title || null) !== before.title);
    const { sqlite } = this.deps.storage;
    if (sqlite) {
      const previous = this.item(before);
      const tags = input.tags === undefined ? null : [...new Set(input.tags)].sort();
      const after: MemoryItem = {
        ...previous,
        title: input.title === undefined ? before.title : input.title || null,
        content: input.content ?? before.content,
        metadata: input.metadata ?? before.metadata,
        visibility: input.visibility ?? before.visibility,
        tags: tags ?? previous.tags,
        updatedAt: new Date(),
        embedded: previous.embedded && !textChanged,
      };
      const audience: MemoryAudience = { ...audienceOf(before), visibility: after.visibility };
      const audienceChanged = after.visibility !== before.visibility;
      const change = await whileBusy(() => updateMemorySqlite(sqlite, before.seq, after, tags, textChanged, audience, audienceChanged, this.deps.limits.changesKept));
      this.publish({ seq: change, type: "updated", memoryId: after.id, memorySeq: before.seq, audience, audienceChanged, memory: after });
      if (textChanged) this.deps.onText?.(before.seq);
      return after;
    }
    const { row, change, audience, audienceChanged } = await this.write(async (tx) => {
      const row = await tx.memory.update({ where: { seq: before.seq }, data, select: memorySelect });
      const audience = audienceOf(row);
      const audienceChanged = row.visibility !== before.visibility;
      const change = await this.recordChange(tx, "updated", row.id, audience, audienceChanged);
      return { row, change, audience, audienceChanged };
    });
    this.publish({ seq: change, type: "updated", memoryId: row.id, memorySeq: row.seq, audience, audienceChanged, memory: this.item(row) });
    if (textChanged) this.deps.onText?.(row.seq);
    return this.item(row);
  }

  async delete(caller: MemoryCaller, id: string): Promise<Pick<MemoryItem, "id" | "scope">> {
    const before = await this.changeable(caller, id);
    await this.takeWrite(caller.principal);
    const audience = audienceOf(before);
    const { sqlite } = this.deps.storage;
    const change = sqlite
      ? await whileBusy(() => deleteMemorySqlite(sqlite, before.seq, before.id, audience, this.deps.limits.changesKept))
      : await this.write(async (tx) => {
          await tx.memory.delete({ where: { seq: before.seq } });
          return this.recordChange(tx, "deleted", before.id, audience, false);
        });
    this.publish({ seq: change, type: "deleted", memoryId: before.id, memorySeq: before.seq, audience, audienceChanged: false, memory: null });
    return { id: before.id, scope: this.item(before).scope };
  }

  /** The memory, when the caller may see it; NOT_FOUND otherwise (whether or not it exists). */
  async get(caller: MemoryCaller, id: string): Promise<MemoryItem> {
    return this.item(await this.visibleRow(caller, id));
  }

  /**
   * Newest first, keyset-paged by seq. `eventCursor` is the last change seq
   * before the page was read: pass it to memory.events as `lastEventId` to
   * get every change after this listing.
   */
  async list(caller: MemoryCaller, input: z.output<typeof memoryListInput>) {
    const { db } = this.deps.storage;
    const last = await db.memoryChange.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } });
    const scope = input.scope ? resolveScope(caller.principal, input.scope) : null;
    const tag = input.tag === undefined ? Prisma.empty : Prisma.sql` AND m."seq" IN (SELECT "memorySeq" FROM "MemoryTag" WHERE "tag" = ${input.tag})`;
    const after = input.cursor == null ? Prisma.empty : Prisma.sql` AND m."seq" < ${input.cursor}`;
    const seqs = await db.$queryRaw<{ seq: number }[]>(Prisma.sql`
      SELECT m."seq" AS "seq" FROM "Memory" m
      WHERE ${readableMemorySql(caller.principal)} AND ${scopeFilterSql(scope)}${tag}${after}
      ORDER BY m."seq" DESC LIMIT ${input.limit + 1}`);
    const page = seqs.slice(0, input.limit).map((r) => Number(r.seq));
    const rows = page.length === 0 ? [] : await db.memory.findMany({ where: { seq: { in: page } }, orderBy: { seq: "desc" }, select: memorySelect });
    const lastSeq = page.at(-1);
    return {
      items: rows.map((row) => this.item(row)),
      nextCursor: seqs.length > input.limit && lastSeq !== undefined ? String(lastSeq) : null,
      eventCursor: String(last?.seq ?? 0),
    };
  }

  /** Whether `caller` may see a memory with this audience (a session scope asks the access cache). */
  async canSee(caller: MemoryCaller, audience: MemoryAudience): Promise<boolean> {
    if (audience.scope !== "session" || audience.sessionId === null) return canSeeMemory(caller.principal, audience, null);
    const access = await this.sessionAccessOrNull(caller, audience.sessionId);
    return canSeeMemory(caller.principal, audience, access);
  }

  private async sessionAccessOrNull(caller: MemoryCaller, sessionId: string): Promise<SessionAccess | null> {
    try {
      return await caller.sessionAccess(sessionId);
    } catch (error) {
      if (error instanceof TRPCError && error.code === "NOT_FOUND") return null;
      throw error;
    }
  }

  private async visibleRow(caller: MemoryCaller, id: string): Promise<MemoryRow> {
    const row = await this.deps.storage.db.memory.findUnique({ where: { id }, select: memorySelect });
    if (!row || !(await this.canSee(caller, audienceOf(row)))) throw new TRPCError({ code: "NOT_FOUND", message: `memory ${id} does not exist` });
    return row;
  }

  private async changeable(caller: MemoryCaller, id: string): Promise<MemoryRow> {
    const row = await this.visibleRow(caller, id);
    const audience = audienceOf(row);
    const access = audience.sessionId === null ? null : await this.sessionAccessOrNull(caller, audience.sessionId);
    if (!canChangeMemory(caller.principal, audience, access)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `memory ${id}: only its author, the owner of its scope or an admin may change it` });
    }
    return row;
  }

  private requireSize(content: string): void {
    const bytes = Buffer.byteLength(content, "utf8");
    const limit = this.deps.limits.maxBytes;
    if (bytes > limit) {
      throw new TRPCError({ code: "PAYLOAD_TOO_LARGE", message: `content is ${bytes} bytes; the limit is ${limit} bytes (MEMORY_MAX_BYTES)` });
    }
  }

  private async takeWrite(principal: Principal): Promise<void> {
    try {
      await this.writes.consume(principal.stored ? principal.id : `unstored:${principal.id}`);
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal;
      throw tooManyRequests(`${this.deps.limits.writesPerMinute} memory writes per minute per principal (MEMORY_WRITES_PER_MINUTE)`, refusal.msBeforeNext);
    }
  }

  /** PostgreSQL: one serialized write transaction. */
  private write<T>(body: (tx: Prisma.TransactionClient) => Promise<T>): Promise<T> {
    const { db, dialect } = this.deps.storage;
    return db.$transaction(async (tx) => {
      // The key is a literal: a bound parameter would not pick the bigint overload.
      if (dialect === "postgres") await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
      return body(tx);
    });
  }

  private async recordChange(tx: Prisma.TransactionClient, type: MemoryChangeMessage["type"], memoryId: string, audience: MemoryAudience, audienceChanged: boolean): Promise<number> {
    const { seq } = await tx.memoryChange.create({ data: { type, memoryId, ...audience, audienceChanged }, select: { seq: true } });
    const kept = this.deps.limits.changesKept;
    if (seq % 1_000 === 0 && seq > kept) await tx.memoryChange.deleteMany({ where: { seq: { lte: seq - kept } } });
    return seq;
  }

  private publish(message: MemoryChangeMessage): void {
    this.deps.bus.publish(memoryChannel, message);
  }
}

export function audienceOf(row: MemoryAudience): MemoryAudience {
  return {
    scope: row.scope,
    sessionId: row.sessionId,
    agentId: row.agentId,
    principalId: row.principalId,
    authorId: row.authorId,
    visibility: row.visibility,
  };
}

/** Run a synchronous SQLite write, again every BUSY_RETRY_MS while Prisma's connection holds the lock (the transaction rolled back: nothing was written). */
async function whileBusy<T>(write: () => T): Promise<T> {
  const since = performance.now();
  for (;;) {
    try {
      return write();
    } catch (error) {
      if (!isSqliteBusy(error) || performance.now() - since > BUSY_GIVE_UP_MS) throw error;
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
    }
  }
}
