// The group-commit spec (tests/message-writer.test.ts), re-run unchanged on
// PostgreSQL: the writer's SQL statements are shared by both databases.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("message writer", () => import("./message-writer.test"));
