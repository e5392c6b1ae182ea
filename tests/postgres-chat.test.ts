// The chat spec (tests/chat.test.ts), re-run
// unchanged on PostgreSQL: every server it starts gets a fresh database on a
// real PostgreSQL (tests/helpers/postgres.ts) migrated with prisma/postgres/migrations.
import { afterAll, beforeAll, describe, it } from "vitest";
import { postgresSkipReason, startPostgres, type PostgresServer } from "./helpers/postgres";
import { setTestDatabaseFactory } from "./helpers/server";

const skipReason = postgresSkipReason;
if (skipReason) {
  console.warn(`postgres-chat.test.ts: ${skipReason}`);
  describe.skip("chat on PostgreSQL", () => {
    it(skipReason, () => undefined);
  });
} else {
  let postgres: PostgresServer | undefined;
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 120_000);
  afterAll(() => postgres?.close());
  setTestDatabaseFactory(() => {
    if (!postgres) throw new Error("PostgreSQL did not start (see beforeAll)");
    return postgres.freshDatabase();
  });
  await import("./chat.test");
}
