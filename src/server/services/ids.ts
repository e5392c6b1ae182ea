// Ids for rows Parley writes in SQL (services/message-writer.ts), shaped like
// the cuids Prisma generates for `@default(cuid())`: 25 lowercase characters,
// "c", the time in ms, a per-process counter and 12 random characters. Ids are
// opaque to clients; nothing orders by them.
import { randomFillSync } from "node:crypto";

let counter = 0;
/** Random bytes drawn 4 KiB at a time (one call into the CSPRNG per 512 ids). */
const pool = Buffer.alloc(4096);
let offset = pool.length;

export function newId(): string {
  counter = (counter + 1) % 36 ** 4;
  if (offset + 8 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.readBigUInt64BE(offset).toString(36).padStart(13, "0").slice(-12);
  offset += 8;
  return `c${Date.now().toString(36)}${counter.toString(36).padStart(4, "0")}${random}`;
}
