// `memory.events`: every change to memories the subscriber may see, tracked
// by its change seq and resumable. The catch-up pattern: subscribe to the bus
// first, back-fill changes after `lastEventId` from the database, then follow
// the live queue, skipping what the back-fill sent. A live change that does not
// follow the last one seen (the bus lost or reordered something, another
// instance wrote) sends the stream back to the database, which has every
// change up to it (memory writes commit in seq order, store.ts).
import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { MemoryEvent } from "../../shared/memory";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import { BoundedQueue } from "../services/bounded-queue";
import { inScope, type resolveScope } from "./audience";
import { memoryChannel, type MemoryChangeMessage } from "./changes";
import { audienceOf, memorySelect, type MemoryCaller, type MemoryStore } from "./store";


const BACKFILL_PAGE = 500;

export interface MemoryStreamOptions {
  db: Db;
  bus: Bus;
  store: MemoryStore;
  caller: MemoryCaller;
  scope: ReturnType<typeof resolveScope> | null;
  lastEventId: string | null | undefined;
  signal: AbortSignal | undefined;
  queueLimit: number;
}

/** Parse a resume id: a non-negative integer, or null. */
function parseEventId(id: string | null | undefined): number | null {
  return id != null && /^\d{1,15}$/.test(id) ? Number(id) : null;
}

export async function* memoryEventStream(opts: MemoryStreamOptions): AsyncGenerator<TrackedEnvelope<MemoryEvent>, void, unknown> {
  const { db, bus, signal } = opts;
  const queue = new BoundedQueue<MemoryChangeMessage>(opts.queueLimit);
  const unsubscribe = bus.subscribe(memoryChannel, (message) => queue.push(message), { onResync: () => queue.invalidate() });
  try {
    const newest = (await db.memoryChange.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } }))?.seq ?? 0;
    const requested = parseEventId(opts.lastEventId);
    // No cursor, or one ahead of the log (the database was reset): live changes from now on.
    let cursor = requested !== null && requested <= newest ? requested : newest;

    const catchUp = async function* (): AsyncGenerator<TrackedEnvelope<MemoryEvent>> {
      for (;;) {
        const changes = await db.memoryChange.findMany({ where: { seq: { gt: cursor } }, orderBy: { seq: "asc" }, take: BACKFILL_PAGE });
        // The memories as they are now (a resumed stream never gets an older version's content).
        const ids = [...new Set(changes.filter((c) => c.type !== "deleted").map((c) => c.memoryId))];
        const rows = ids.length === 0 ? [] : await db.memory.findMany({ where: { id: { in: ids } }, select: memorySelect });
        const current = new Map(rows.map((row) => [row.id, row]));
        for (const change of changes) {
          cursor = change.seq;
          const row = current.get(change.memoryId);
          const event = await eventFor(opts, {
            seq: change.seq,
            type: change.type === "deleted" ? "deleted" : change.type === "created" ? "created" : "updated",
            memoryId: change.memoryId,
            memorySeq: row?.seq ?? 0,
            audience: row && change.type !== "deleted" ? audienceOf(row) : audienceOf(change),
            audienceChanged: change.audienceChanged,
            memory: row && change.type !== "deleted" ? opts.store.item(row) : null,
          });
          if (event) yield tracked(String(change.seq), event);
        }
        if (changes.length < BACKFILL_PAGE || signal?.aborted) return;
      }
    };

    if (cursor < newest) yield* catchUp();
    while (!signal?.aborted) {
      const next = await queue.take(signal);
      if (next.kind === "closed") return;
      if (next.kind === "overflow") {
        yield* catchUp();
        continue;
      }
      const message = next.value;
      if (message.seq <= cursor) continue;
      if (message.seq !== cursor + 1) {
        yield* catchUp();
        continue;
      }
      cursor = message.seq;
      const event = await eventFor(opts, message);
      if (event) yield tracked(String(message.seq), event);
    }
  } finally {
    unsubscribe();
    queue.close();
  }
}

/**
 * What this subscriber gets for a change: the memory when it may see it; for
 * an update that took it out of its sight, `memory.hidden`; otherwise nothing
 * (its cursor still moves past the change).
 */
async function eventFor(opts: MemoryStreamOptions, change: MemoryChangeMessage): Promise<MemoryEvent | null> {
  if (!inScope(change.audience, opts.scope)) return null;
  const visible = await opts.store.canSee(opts.caller, change.audience);
  if (change.type === "deleted") return visible ? { type: "memory.deleted", id: change.memoryId } : null;
  if (!change.memory) return null; // deleted since: its deleted change follows
  if (visible) return { type: change.type === "created" ? "memory.created" : "memory.updated", memory: change.memory };
  return change.audienceChanged ? { type: "memory.hidden", id: change.memoryId } : null;
}
