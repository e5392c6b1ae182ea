// The Prisma Studio server behind `npm run studio`: serves studio-core's page
// (bundled by scripts/studio-build.ts) and its /bff endpoint, which runs
// Studio's SQL on DATABASE_URL through Parley's drivers (./executors). It binds
// to loopback unless told otherwise, and on loopback it answers only requests
// addressed to a loopback name, so a web page elsewhere cannot reach it
// through DNS rebinding.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Executor } from "@prisma/studio-core/data";
import Database from "better-sqlite3";
import type { Logger } from "pino";
import { isLoopbackHost, isPostgresUrl, sqlitePath } from "../server/env";
import { answerStudioRequest, parseStudioRequest } from "./bff";
import { postgresExecutor, sqliteExecutor, studioPostgresPool } from "./executors";

export interface StudioServerOptions {
  /** Parley's DATABASE_URL: a SQLite `file:` URL or a PostgreSQL URL. */
  databaseUrl: string;
  /** Interface to bind (STUDIO_HOST). */
  host: string;
  /** Port (STUDIO_PORT); 0 picks a free one. */
  port: number;
  /** The directory holding browser.js and browser.css. */
  bundleDir: string;
  log: Logger;
}

export interface StudioServer {
  url: string;
  close: () => Promise<void>;
}

/** The largest /bff request body accepted (Studio sends one statement or a batch of edits). */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#4f46e5"/><path d="M9 9h9a5 5 0 0 1 0 10h-5v5H9z" fill="#fff"/></svg>`;

function page(dialect: "sqlite" | "postgresql"): string {
  return `<!doctype html>
<html lang="en" data-dialect="${dialect}" style="height:100%">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Prisma Studio · Parley</title>
    <link rel="icon" href="data:image/svg+xml,${encodeURIComponent(ICON)}" type="image/svg+xml" />
    <link rel="stylesheet" href="/studio.css" />
    <style>body, #studio { height: 100%; margin: 0; }</style>
  </head>
  <body>
    <div id="studio"></div>
    <script type="module" src="/studio.js"></script>
  </body>
</html>`;
}

/** The database Studio edits, and how to let it go. */
async function openDatabase(databaseUrl: string): Promise<{ executor: Executor; dialect: "sqlite" | "postgresql"; close: () => Promise<void> }> {
  if (isPostgresUrl(databaseUrl)) {
    const pool = studioPostgresPool(databaseUrl);
    await pool.query("SELECT 1"); // fail at start-up when PostgreSQL is unreachable
    return { executor: postgresExecutor(pool), dialect: "postgresql", close: () => pool.end() };
  }
  const file = path.resolve(sqlitePath(databaseUrl));
  // A running Parley server may hold the write lock for a moment: wait for it as the server's own connections do.
  const db = new Database(file, { fileMustExist: true, timeout: 5_000 });
  return {
    executor: sqliteExecutor(db),
    dialect: "sqlite",
    close: () => {
      db.close();
      return Promise.resolve();
    },
  };
}

/** True when a request on a loopback-bound server is addressed to a loopback name (Host header). */
function addressedToLoopback(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const name = hostHeader.startsWith("[") ? hostHeader.slice(0, hostHeader.indexOf("]") + 1) : hostHeader.split(":")[0];
  return name !== undefined && isLoopbackHost(name);
}

function readBody(req: http.IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "x-content-type-options": "nosniff" });
  res.end(body);
}

/** Start serving Prisma Studio on `options.host:options.port`. */
export async function startStudioServer(options: StudioServerOptions): Promise<StudioServer> {
  const script = fs.readFileSync(path.join(options.bundleDir, "browser.js"));
  const styles = fs.readFileSync(path.join(options.bundleDir, "browser.css"));
  const database = await openDatabase(options.databaseUrl);
  const html = page(database.dialect);
  const loopback = isLoopbackHost(options.host);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (loopback && !addressedToLoopback(req.headers.host)) {
      return send(res, 421, "text/plain", "Prisma Studio answers requests to a loopback address only (127.0.0.1, localhost, [::1]).");
    }
    const pathname = new URL(req.url ?? "/", "http://studio").pathname;
    if (req.method === "GET" || req.method === "HEAD") {
      if (pathname === "/") return send(res, 200, "text/html; charset=utf-8", html);
      if (pathname === "/studio.js") return send(res, 200, "text/javascript; charset=utf-8", script);
      if (pathname === "/studio.css") return send(res, 200, "text/css; charset=utf-8", styles);
      if (pathname === "/favicon.ico") return send(res, 200, "image/svg+xml", ICON);
      return send(res, 404, "text/plain", "Not found");
    }
    if (req.method === "POST" && pathname === "/bff") {
      // JSON only (a cross-site form cannot send it without a CORS preflight, which is never granted), from this very origin.
      if (!req.headers["content-type"]?.startsWith("application/json")) return send(res, 415, "text/plain", "Content-Type must be application/json");
      const origin = req.headers.origin;
      if (origin && origin !== `http://${req.headers.host}`) return send(res, 403, "text/plain", `Origin ${origin} may not use this Studio`);
      const text = await readBody(req);
      if (text === null) return send(res, 413, "text/plain", `request body larger than ${MAX_BODY_BYTES} bytes`);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        return send(res, 400, "text/plain", "request body is not JSON");
      }
      const parsed = parseStudioRequest(body);
      if (!parsed.ok) return send(res, 400, "text/plain", parsed.message);
      const reply = await answerStudioRequest(database.executor, parsed.request);
      if (reply.status !== 200) return send(res, reply.status, "text/plain", reply.message);
      return send(res, 200, "application/json", JSON.stringify(reply.body));
    }
    return send(res, 405, "text/plain", "Method not allowed");
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.log.error({ err: error, url: req.url }, "studio request failed");
      if (!res.headersSent) send(res, 500, "text/plain", "internal error");
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = options.host.includes(":") ? `[${options.host}]` : options.host;
  return {
    url: `http://${shownHost === "0.0.0.0" || shownHost === "[::]" ? "127.0.0.1" : shownHost}:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await database.close();
    },
  };
}
