// Ids for rows Parley writes in SQL (services/message-writer.ts), shaped like
// the cuids Prisma generates for `@default(cuid())`: 25 lowercase characters,
// "c", the time in ms, a per-process counter and 12 random characters. Ids are
// opaque to clients; nothing orders by them.
import { randomBytes } from "node:crypto";

let counter = 0;

export function newId(): string {
  counter = (counter + 1) % 36 ** 4;
  const random = randomBytes(8).readBigUInt64BE().toString(36).padStart(13, "0").slice(-12);
  return `c${Date.now().toString(36)}${counter.toString(36).padStart(4, "0")}${random}`;
}
