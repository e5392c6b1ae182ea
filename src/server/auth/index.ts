// Authentication for every transport, built once per server: resolves the
// caller of an HTTP request or WebSocket connection to a Principal (cookie,
// Bearer header, connectionParams.token; PARLEY_AUTH=off: a local admin),
// serves sign-in and sign-out, and owns the live-revocation watch and limits.
import type { IncomingMessage, ServerResponse } from "node:http";
import { TRPCError } from "@trpc/server";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Bus } from "../bus/bus";
import type { Db } from "../db";
import type { Config } from "../env";
import {
  clearedSessionCookie,
  isSameOrigin,
  originAllowed,
  readBearer,
  readCookie,
  sendText,
  SESSION_COOKIE,
  sessionCookie,
  SIGNIN_PAGE_PATH,
} from "./http";
import { lookupSessionAccess, SessionAccessCache } from "./access";
import { Cors } from "./cors";
import { HostCheck } from "./hosts";
import { TrustedProxies } from "./proxies";
import { createLimiterStore } from "./limiter-store";
import { Limits } from "./limits";
import { anonymousPrincipal, displayName, localAdminPrincipal, type Principal } from "./principal";
import { consumeSignInToken, createToken, ensureFirstAdmin, hashToken, principalForToken } from "./tokens";
import { AuthWatch } from "./watch";

export type { Principal } from "./principal";

export interface Authentication {
  principal: Principal;
  /** Why presented credentials were not accepted (shown with UNAUTHORIZED); null when none were presented or they worked. */
  problem: string | null;
}

export class Auth {
  readonly watch: AuthWatch;
  readonly limits: Limits;
  /** Session access looked up recently (ACCESS_CACHE_MS); see SessionAccessCache. */
  readonly access: SessionAccessCache;
  readonly enabled: boolean;
  /** With REDIS_URL: where the per-principal call rate is counted, for every instance. */
  readonly limiterStore: Redis | null;
  /** The Host names this server answers (DNS rebinding). */
  readonly hosts: HostCheck;
  /** Who a request's client is behind PARLEY_TRUSTED_PROXIES. */
  readonly proxies: TrustedProxies;
  /** CORS answers for PARLEY_ALLOWED_ORIGINS. */
  readonly cors: Cors;

  constructor(private readonly deps: { db: Db; bus: Bus; log: Logger; config: Config }) {
    this.enabled = deps.config.PARLEY_AUTH === "on";
    this.watch = new AuthWatch({ db: deps.db, bus: deps.bus, log: deps.log.child({ component: "auth" }), pollMs: deps.config.AUTH_REVOCATION_POLL_MS });
    this.limiterStore = deps.config.REDIS_URL ? createLimiterStore(deps.config.REDIS_URL, deps.log.child({ component: "limits" })) : null;
    this.limits = new Limits(deps.config, this.limiterStore);
    this.access = new SessionAccessCache(deps.config.ACCESS_CACHE_MS, this.watch);
    this.hosts = new HostCheck(deps.config);
    this.proxies = new TrustedProxies(deps.config.PARLEY_TRUSTED_PROXIES, deps.log.child({ component: "auth" }));
    this.cors = new Cors(deps.config);
  }

  start(): void {
    if (this.enabled) this.watch.start();
  }

  close(): void {
    this.watch.close();
    this.limiterStore?.disconnect();
  }

  /**
   * Who is calling. Never throws (a WS createContext that throws makes clients
   * reconnect in a loop): a database failure leaves the caller anonymous.
   * Precedence: an explicit token (connectionParams.token on WS, Bearer on
   * HTTP), then the session cookie, accepted only from an allowed Origin.
   */
  async authenticate(
    transport: "http" | "ws",
    connectionId: string,
    req: IncomingMessage,
    connectionParams: Record<string, unknown> | null | undefined,
  ): Promise<Authentication> {
    const name = displayName(connectionParams?.name, this.enabled ? "anonymous" : "local admin");
    if (!this.enabled) return { principal: localAdminPrincipal(connectionId, name), problem: null };
    const anonymous = anonymousPrincipal(connectionId, name);
    const paramToken = connectionParams?.token;
    const explicit = transport === "ws" ? (typeof paramToken === "string" ? paramToken : null) : readBearer(req);
    try {
      if (explicit) {
        const principal = await principalForToken(this.deps.db, explicit, ["api"]);
        return principal ? { principal, problem: null } : { principal: anonymous, problem: "the token is invalid, expired or revoked" };
      }
      const cookie = readCookie(req, SESSION_COOKIE);
      if (cookie) {
        if (!originAllowed(this.deps.config, req)) {
          return { principal: anonymous, problem: `the session cookie is not accepted from origin ${req.headers.origin ?? ""} (PARLEY_ALLOWED_ORIGINS)` };
        }
        const principal = await principalForToken(this.deps.db, cookie, ["cookie"]);
        return principal ? { principal, problem: null } : { principal: anonymous, problem: "the session cookie is expired or revoked: sign in again" };
      }
    } catch (error) {
      this.deps.log.error({ err: error, connectionId }, "authentication failed; treating the caller as anonymous");
      return { principal: anonymous, problem: "authentication is unavailable right now" };
    }
    return { principal: anonymous, problem: null };
  }

  /**
   * Watch one live stream: `onLost` gets UNAUTHORIZED when the caller's token
   * is revoked (or expires), FORBIDDEN when it is removed from one of
   * `sessions` (the sessions the stream reads, filled as it learns them) and
   * can no longer read it. Returns the function that stops watching, or null
   * when nothing can end the stream (authentication off, anonymous caller).
   */
  watchStream(principal: Principal, sessions: ReadonlySet<string>, onLost: (error: TRPCError) => void): (() => void) | null {
    if (!this.enabled || principal.kind === "anonymous") return null;
    let lost = false;
    const lose = (error: TRPCError) => {
      if (lost) return;
      lost = true;
      stop();
      onLost(error);
    };
    const stop = this.watch.on((change) => {
      if (change.type === "token.revoked" && change.tokenId === principal.tokenId) {
        lose(new TRPCError({ code: "UNAUTHORIZED", message: "your token was revoked or expired; this stream has ended" }));
      } else if (change.type === "member.removed" && change.principalId === principal.id && sessions.has(change.sessionId)) {
        lookupSessionAccess(this.deps.db, principal, change.sessionId).then(
          (access) => {
            if (!access.read) lose(new TRPCError({ code: "FORBIDDEN", message: `you were removed from session ${change.sessionId}; this stream has ended` }));
          },
          () => lose(new TRPCError({ code: "FORBIDDEN", message: `session ${change.sessionId} is no longer readable` })),
        );
      }
    });
    return stop;
  }

  /**
   * Keeps `readable` (the sessions a stream without a `sessionId` delivers,
   * events.subscribe) true for `principal` while the stream runs: a session
   * it is removed from is dropped at once, and put back only if it is still
   * readable (its owner). Returns the function that stops watching.
   */
  watchReadable(principal: Principal, readable: Set<string>): () => void {
    return this.watch.on((change) => {
      if (change.type !== "member.removed" || change.principalId !== principal.id || !readable.delete(change.sessionId)) return;
      lookupSessionAccess(this.deps.db, principal, change.sessionId).then(
        (access) => {
          if (access.read) readable.add(change.sessionId);
        },
        () => undefined,
      );
    });
  }

  /** First start with auth on and no principal: the admin's one-time sign-in URL (null otherwise). */
  async firstStart(baseUrl: string): Promise<string | null> {
    if (!this.enabled) return null;
    const token = await ensureFirstAdmin(this.deps.db, this.deps.config.AUTH_SIGNIN_TTL_MS);
    return token ? signInUrl(this.deps.config.PUBLIC_URL ?? baseUrl, token) : null;
  }

  /**
   * POST /api/auth/signin with the form field `token` (the sign-in page's
   * form; a link only opens that page, so no navigation signs anyone in): a
   * valid one-time token becomes a session cookie and a redirect to `/`. Only
   * from the server's own pages (Origin, Sec-Fetch-Site), so another site
   * cannot sign a visitor into an account of its choosing.
   */
  async handleSignIn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") {
      sendText(res, 405, `Sign in with the one-time link the server printed: it opens ${SIGNIN_PAGE_PATH}, whose button signs you in.\n`, { allow: "POST" });
      return;
    }
    if (!fromOwnPage(req)) {
      sendText(res, 403, `Sign in from this server's own sign-in page (${SIGNIN_PAGE_PATH}); another site's form cannot sign you in.\n`);
      return;
    }
    const token = await readFormField(req, "token");
    if (!token) {
      sendText(res, 400, `Send the one-time token as the form field "token" (the sign-in page does).\n`);
      return;
    }
    const principal = await consumeSignInToken(this.deps.db, token);
    if (!principal) {
      sendText(res, 401, "This sign-in link is invalid, expired or already used. Ask an admin for a new one (npm run token -- signin).\n");
      return;
    }
    const { config } = this.deps;
    const session = await createToken(this.deps.db, {
      principalId: principal.id,
      name: "web session",
      kind: "cookie",
      expiresAt: new Date(Date.now() + config.AUTH_COOKIE_TTL_MS),
    });
    this.deps.log.info({ principalId: principal.id }, "signed in");
    res.writeHead(303, {
      location: "/",
      "set-cookie": sessionCookie(session.token, config.AUTH_COOKIE_TTL_MS, this.secureCookie(req)),
      "cache-control": "no-store",
    });
    res.end();
  }

  /** POST /api/auth/signout: revoke the session cookie's token and clear it. */
  async handleSignOut(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== "POST") {
      sendText(res, 405, "sign out with POST\n", { allow: "POST" });
      return;
    }
    if (!originAllowed(this.deps.config, req)) {
      sendText(res, 403, "origin not allowed\n");
      return;
    }
    const cookie = readCookie(req, SESSION_COOKIE);
    if (cookie) {
      const row = await this.deps.db.apiToken.findUnique({ where: { hash: hashToken(cookie) }, select: { id: true, principalId: true, kind: true } });
      if (row?.kind === "cookie") {
        await this.deps.db.apiToken.update({ where: { id: row.id }, data: { revokedAt: new Date() } });
        this.watch.publish({ type: "token.revoked", tokenId: row.id, principalId: row.principalId });
      }
    }
    res.writeHead(204, { "set-cookie": clearedSessionCookie(this.secureCookie(req)), "cache-control": "no-store" });
    res.end();
  }

  /** The cookie is `Secure` when the public URL is https, or the client used https (directly or per a trusted proxy). */
  private secureCookie(req: IncomingMessage): boolean {
    return (this.deps.config.PUBLIC_URL?.startsWith("https:") ?? false) || this.proxies.clientOf(req).secure;
  }
}

/**
 * Whether a form post comes from one of this server's pages, or from no
 * browser at all. Browsers say where a request comes from in Sec-Fetch-Site
 * (Chromium, Firefox, Safari 16.4+); with `Referrer-Policy: no-referrer`
 * (every page here) Chromium sends `Origin: null` on a form post, even a
 * same-origin one, so Origin alone cannot decide. Without Sec-Fetch-Site,
 * Origin must be absent (not a browser) or this server's.
 */
function fromOwnPage(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  const origin = req.headers.origin;
  if (site !== undefined) return site === "same-origin" && (origin === undefined || origin === "null" || isSameOrigin(req));
  return origin === undefined || isSameOrigin(req);
}

/** Largest sign-in form body read: a token is 46 characters. */
const SIGNIN_FORM_MAX_BYTES = 4_096;

/** One field of a small `application/x-www-form-urlencoded` body; null when absent, malformed or too large. */
async function readFormField(req: IncomingMessage, name: string): Promise<string | null> {
  if (!(req.headers["content-type"] ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) return null;
  let body = "";
  for await (const chunk of req as AsyncIterable<Buffer>) {
    body += chunk.toString("utf8");
    if (body.length > SIGNIN_FORM_MAX_BYTES) return null;
  }
  return new URLSearchParams(body).get(name);
}

export function signInUrl(base: string, token: string): string {
  return `${base.replace(/\/+$/, "")}/signin?token=${encodeURIComponent(token)}`;
}
