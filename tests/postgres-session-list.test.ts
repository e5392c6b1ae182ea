// The session.list spec (tests/session-list.test.ts), re-run unchanged on
// PostgreSQL: keyset paging on timestamps, and title search, behave the same there.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("session.list", () => import("./session-list.test"));
