// The clientKey spec (tests/client-key.test.ts), re-run unchanged on
// PostgreSQL, where two instances really race on the unique index.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("clientKey", () => import("./client-key.test"));
