// `npm run studio`: Prisma Studio (studio-core, the Studio of current Prisma)
// on DATABASE_URL, SQLite or PostgreSQL, offline: its page is bundled here and
// its SQL runs through Parley's own drivers (src/studio/). Binds STUDIO_HOST
// (loopback by default) and STUDIO_PORT (5555).
import { isLoopbackHost, parseConfig } from "../src/server/env";
import { createLogger } from "../src/server/log";
import { startStudioServer } from "../src/studio/server";
import { ensureStudioBundle, studioBundleDir } from "./studio-build";

const config = parseConfig(process.env);
const log = createLogger(config.LOG_LEVEL);

const bundle = ensureStudioBundle();
if (bundle.built) console.log(`✓ Prisma Studio page bundled (${bundle.seconds.toFixed(1)} s)`);
const studio = await startStudioServer({
  databaseUrl: config.DATABASE_URL,
  host: config.STUDIO_HOST,
  port: config.STUDIO_PORT,
  bundleDir: studioBundleDir,
  log,
});
if (!isLoopbackHost(config.STUDIO_HOST)) {
  console.warn(`! STUDIO_HOST=${config.STUDIO_HOST}: anyone who can reach this address can read and edit every row, with no sign-in.`);
}
console.log(`Prisma Studio is running at ${studio.url}`);

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    void studio.close().then(() => process.exit(0));
  });
}
