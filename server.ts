// Entry point: `npm start` (production build) and `npm run dev` (--dev, hot
// reload). Reads the configuration once, serves everything on one port (the
// API as soon as the database and the bus are ready, pages once Next.js is
// prepared) and shuts down gracefully on SIGINT/SIGTERM.
import { startServer } from "./src/server/app";
import { recordSignInBase } from "./src/server/auth/sign-in-base";
import { parseConfig } from "./src/server/env";
import { createLogger } from "./src/server/log";

const dev = process.argv.includes("--dev");
process.env.NEXT_TELEMETRY_DISABLED ??= "1";
// Next reads NODE_ENV itself; production unless --dev.
Object.assign(process.env, { NODE_ENV: dev ? "development" : "production" });

function readConfig() {
  try {
    return parseConfig(process.env);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  }
}
const config = readConfig();
const log = createLogger(config.LOG_LEVEL);

const server = await startServer({
  config,
  log,
  async createNext({ port }) {
    // Loaded here, not at the top: the API listens without waiting for Next's modules.
    const { default: next } = await import("next");
    const app = next({ dev, dir: import.meta.dirname, hostname: config.HOST, port, turbopack: true });
    await app.prepare();
    const handle = app.getRequestHandler();
    return { handle: (req, res) => handle(req, res), ownsUpgrades: dev, close: () => app.close() };
  },
}).catch((error: unknown) => {
  log.fatal({ err: error }, "could not start");
  process.exit(1);
});

log.info({ url: server.url, dev }, "Parley is listening");
// The API is up; the web app follows (page requests wait for it). Without it the server is useless to people: stop.
server.webReady.then(
  () => log.info("web app ready"),
  (error: unknown) => {
    log.fatal({ err: error }, "the web app could not start");
    process.exit(1);
  },
);
// `npm run token -- signin | user` in another shell prints links to this server (its port or PUBLIC_URL).
const forgetSignInBase = recordSignInBase(config, server.url);
console.log(`\n  Parley ${dev ? "(dev) " : ""}is running at ${server.url}\n`);
if (server.signInUrl) {
  // Printed, never logged: the link is a credential (single use, expires after AUTH_SIGNIN_TTL_MS).
  console.log(`  First start: sign in as admin with this one-time link:\n\n    ${server.signInUrl}\n`);
}
if (config.PARLEY_AUTH === "off") {
  console.log("  PARLEY_AUTH=off: every caller is an admin. Local development only.\n");
}

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    forgetSignInBase();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
