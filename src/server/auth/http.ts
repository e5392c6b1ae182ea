// The HTTP side of authentication: which Origin may use the cookie and open
// the WebSocket, the session cookie, the sign-in and sign-out routes, and the
// security headers every response carries.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Config } from "../env";

export const SESSION_COOKIE = "parley_session";
/** The sign-in page (a link opens it with `?token=`; it signs in only through its form). */
export const SIGNIN_PAGE_PATH = "/signin";
/** Where the sign-in page's form posts the token. */
export const SIGNIN_PATH = "/api/auth/signin";
export const SIGNOUT_PATH = "/api/auth/signout";

/**
 * Whether a request's Origin may act with this server's credentials. No Origin
 * (non-browser clients) is allowed: a browser always sends one on WebSocket
 * upgrades and cross-site requests. Otherwise it must be the server's own
 * origin (Origin's host is the request's Host, which auth/hosts.ts has already
 * checked is a name of this server) or be listed in PARLEY_ALLOWED_ORIGINS.
 */
export function originAllowed(config: Pick<Config, "PARLEY_ALLOWED_ORIGINS">, req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  return isSameOrigin(req) || isListedOrigin(config, origin);
}

/** The request's Origin names the host it was sent to (a page of this server). False without an Origin. */
export function isSameOrigin(req: IncomingMessage): boolean {
  const { origin, host } = req.headers;
  if (origin === undefined || host === undefined) return false;
  try {
    return new URL(origin).host === new URL(`http://${host}`).host;
  } catch {
    return false;
  }
}

/** `origin` is one of PARLEY_ALLOWED_ORIGINS (compared as browsers serialise origins: lower case, no path). */
export function isListedOrigin(config: Pick<Config, "PARLEY_ALLOWED_ORIGINS">, origin: string): boolean {
  return config.PARLEY_ALLOWED_ORIGINS.includes(origin.toLowerCase().replace(/\/+$/, ""));
}

/** One cookie's value from a Cookie header. */
export function readCookie(req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null;
      }
    }
  }
  return null;
}

/** The Bearer token of an Authorization header. */
export function readBearer(req: IncomingMessage): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return match?.[1] ?? null;
}

export function sessionCookie(token: string, maxAgeMs: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(maxAgeMs / 1000)}${secure ? "; Secure" : ""}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? "; Secure" : ""}`;
}

/**
 * Headers on every HTTP response: no MIME sniffing, no referrer leaking
 * tokens in URLs, no framing. API responses (JSON, never rendered) also get a
 * CSP that allows nothing; pages get only frame-ancestors (Next.js needs its
 * inline scripts).
 */
export function setSecurityHeaders(res: ServerResponse, pathname: string): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader(
    "Content-Security-Policy",
    pathname.startsWith("/api/") ? "default-src 'none'; frame-ancestors 'none'; base-uri 'none'" : "frame-ancestors 'none'",
  );
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(text);
}
