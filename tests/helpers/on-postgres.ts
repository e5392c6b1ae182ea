// Re-run a spec file unchanged on PostgreSQL: every server it starts gets a
// fresh database on a real PostgreSQL (tests/helpers/postgres.ts), migrated
// with prisma/postgres/migrations. Skips, saying why, only when the binaries
// are absent (CI installs them and sets PARLEY_REQUIRE_SERVERS=1).
import { afterAll, beforeAll, describe, it } from "vitest";
import { postgresSkipReason, startPostgres, type PostgresServer } from "./postgres";
import { setTestDatabaseFactory } from "./server";

export async function onPostgres(name: string, loadSpec: () => Promise<unknown>): Promise<void> {
  if (postgresSkipReason) {
    const reason = postgresSkipReason;
    console.warn(`${name} on PostgreSQL: ${reason}`);
    describe.skip(`${name} on PostgreSQL`, () => {
      it(reason, () => undefined);
    });
    return;
  }
  let postgres: PostgresServer | undefined;
  beforeAll(async () => {
    postgres = await startPostgres();
  }, 120_000);
  afterAll(() => postgres?.close());
  setTestDatabaseFactory(() => {
    if (!postgres) throw new Error("PostgreSQL did not start (see beforeAll)");
    return postgres.freshDatabase();
  });
  await loadSpec();
}
