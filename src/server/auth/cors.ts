// CORS for /api/trpc: browser apps on the origins PARLEY_ALLOWED_ORIGINS lists
// may call the HTTP API (queries, mutations, SSE) with a Bearer token. The
// session cookie also travels where the browser sends it: the cookie is
// SameSite=Lax, so only to a listed origin of the same site, and only those
// get Access-Control-Allow-Credentials. Other origins get no CORS headers
// (their preflight is refused), and the server's own pages need none.
import type { IncomingMessage, ServerResponse } from "node:http";
import net from "node:net";
import type { Config } from "../env";
import { isListedOrigin, isSameOrigin, sendText } from "./http";

/** Request headers a Parley client sends: the token, JSON bodies, tRPC's streaming batch, SSE resumption. */
const ALLOWED_HEADERS = "authorization, content-type, trpc-accept, last-event-id";
/** Response headers a cross-origin app may read (the wait of a TOO_MANY_REQUESTS). */
const EXPOSED_HEADERS = "retry-after";
/** How long a browser may reuse a preflight answer. */
const PREFLIGHT_MAX_AGE_S = 600;

/**
 * The site of a host (the part SameSite compares): the last two labels of a
 * name, the whole of an IP address or a one-label name. Browsers use the
 * public-suffix list; this is coarser only for suffixes such as co.uk, where
 * it calls two sites one, and then the browser sends no cookie anyway.
 */
function siteOf(hostname: string): string {
  const name = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (net.isIP(name) !== 0) return name;
  return name.split(".").slice(-2).join(".");
}

/**
 * Whether the browser sends a SameSite=Lax cookie with a request from
 * `origin` to this server: same scheme (schemeful same-site) and same site.
 */
function sameSite(origin: URL, req: IncomingMessage, secure: boolean): boolean {
  const host = req.headers.host;
  if (host === undefined) return false;
  const scheme = secure ? "https:" : "http:";
  return origin.protocol === scheme && siteOf(origin.hostname) === siteOf(new URL(`http://${host}`).hostname);
}

export class Cors {
  constructor(private readonly config: Pick<Config, "PARLEY_ALLOWED_ORIGINS">) {}

  /**
   * For a request to /api/trpc: adds the CORS headers an allowed cross-origin
   * request needs, and answers a preflight (OPTIONS) itself. Returns true when
   * the request has been answered (a preflight), false to go on serving it.
   * `secure`: the client used https (auth/proxies.ts).
   */
  handle(req: IncomingMessage, res: ServerResponse, secure: boolean): boolean {
    const origin = req.headers.origin;
    if (origin === undefined || isSameOrigin(req)) return false;
    // Answers differ by Origin: caches must keep them apart.
    res.setHeader("Vary", "Origin");
    const listed = isListedOrigin(this.config, origin);
    const preflight = req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    if (!listed) {
      if (preflight) sendText(res, 403, `origin ${origin.slice(0, 200)} is not allowed to call this API (PARLEY_ALLOWED_ORIGINS)\n`);
      return preflight;
    }
    res.setHeader("Access-Control-Allow-Origin", origin);
    // A listed origin parses (env.ts checks its form).
    if (sameSite(new URL(origin), req, secure)) res.setHeader("Access-Control-Allow-Credentials", "true");
    if (!preflight) {
      res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
      return false;
    }
    res.writeHead(204, {
      "Access-Control-Allow-Methods": "GET, POST",
      "Access-Control-Allow-Headers": ALLOWED_HEADERS,
      "Access-Control-Max-Age": String(PREFLIGHT_MAX_AGE_S),
      "cache-control": "no-store",
    });
    res.end();
    return true;
  }
}
