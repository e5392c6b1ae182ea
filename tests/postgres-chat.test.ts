// The chat spec (tests/chat.test.ts), re-run unchanged on PostgreSQL.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("chat", () => import("./chat.test"));
