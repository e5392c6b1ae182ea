// The spec of editing and deleting messages (tests/message-changes.test.ts) and
// of export and import (tests/transfer.test.ts), re-run unchanged on
// PostgreSQL: a delete empties the earlier events through jsonb, imports and
// their events go through Prisma's transaction there.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("message edits, deletes, export and import", async () => {
  await import("./message-changes.test");
  await import("./transfer.test");
});
