// The foundation's session stream spec (tests/session-stream.test.ts), re-run unchanged on PostgreSQL.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("session.events", () => import("./session-stream.test"));
