// The memory and search spec (tests/memory.test.ts), re-run unchanged on
// PostgreSQL: tsvector + GIN + ts_rank_cd instead of FTS5 + bm25, the same
// ranking order, visibility, paging, live changes and embeddings.
import { onPostgres } from "./helpers/on-postgres";

await onPostgres("memory and search", () => import("./memory.test"));
