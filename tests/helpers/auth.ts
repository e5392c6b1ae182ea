// Principals for the auth tests: tokens made through the same service code
// the token script uses, on the test server's own database; and a call's
// outcome as the authorization tests compare it ("ok" or the error's code).
import type { IncomingMessage } from "node:http";
import { TRPCClientError } from "@trpc/client";
import WebSocket from "ws";
import type { Role } from "../../src/generated/prisma/client";
import { createPrincipalWithToken } from "../../src/server/auth/tokens";
import type { AppRouter } from "../../src/server/routers/_app";
import type { TestServer } from "./server";

/**
 * A server for tests that call every procedure many times as a few principals:
 * authentication on, the per-connection and per-principal limits out of the
 * way, and the built-in assistant answering at once (chat rows wait for it).
 */
export const AUTH_CALL_MANY_ENV = {
  PARLEY_AUTH: "on",
  RATE_LIMIT_PER_CONNECTION: "100000",
  RATE_LIMIT_PER_PRINCIPAL: "100000",
  CHAT_BUILTIN_CHUNK_DELAY_MS: "0",
  CHAT_MAX_RUNS_PER_PRINCIPAL: "1000",
} as const;

export interface TestPrincipal {
  id: string;
  role: Role;
  token: string;
  tokenId: string;
}

export async function makePrincipal(t: TestServer, role: Role, name: string = role): Promise<TestPrincipal> {
  const { token, info } = await createPrincipalWithToken(t.server.deps.db, { name, role, expiresAt: null });
  return { id: info.principalId, role, token, tokenId: info.id };
}

/** The tRPC error code of a client error ("unknown" for anything else). */
export function errorCode(error: unknown): string {
  return error instanceof TRPCClientError ? ((error as TRPCClientError<AppRouter>).data?.code ?? "unknown") : "unknown";
}

/** "ok" when the call succeeds, else its error code; rethrows what is not a tRPC error. */
export async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (error instanceof TRPCClientError) return errorCode(error);
    throw error;
  }
}

/** "ok" on a subscription's first value, else the code of the error that ended it; unsubscribes either way. */
export async function firstValue(
  subscribe: (handlers: { onData: () => void; onError: (error: unknown) => void }) => { unsubscribe: () => void },
): Promise<string> {
  let settle: (result: string) => void = () => undefined;
  const result = new Promise<string>((resolve) => (settle = resolve));
  const sub = subscribe({ onData: () => settle("ok"), onError: (error) => settle(errorCode(error)) });
  try {
    return await result;
  } finally {
    sub.unsubscribe();
  }
}

/**
 * Open a raw WebSocket to the tRPC endpoint; resolves with "open" or the
 * response to a refused upgrade. `options.localAddress` connects from
 * another loopback address (another client machine).
 */
export function upgradeResponse(url: string, headers: Record<string, string>, options: { localAddress?: string } = {}): Promise<"open" | IncomingMessage> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/api/trpc-ws`, { headers, ...options });
    ws.on("open", () => {
      void ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => resolve(res));
    ws.on("error", () => undefined);
  });
}

/**
 * A WebSocket to the tRPC endpoint, held open (the caller closes it); for a
 * refused upgrade "refused <status>" (with " retry-after <s>" when sent), or
 * "error <message>". `localAddress`: from another loopback address.
 */
export function holdSocket(url: string, headers: Record<string, string> = {}, options: { localAddress?: string } = {}): Promise<WebSocket | string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/api/trpc-ws`, { headers, ...options });
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => {
      const retryAfter = res.headers["retry-after"];
      resolve(`refused ${res.statusCode}${retryAfter ? ` retry-after ${retryAfter}` : ""}`);
    });
    ws.once("error", (error) => resolve(`error ${error.message}`));
  });
}

/** "open", or the HTTP status of a refused upgrade. */
export async function upgrade(url: string, headers: Record<string, string>, options: { localAddress?: string } = {}): Promise<"open" | number> {
  const response = await upgradeResponse(url, headers, options);
  return response === "open" ? response : (response.statusCode ?? 0);
}

/**
 * Sign in with a printed one-time link as a browser does: opening the link
 * shows the sign-in page (and signs nobody in); its form posts the token,
 * same-origin, to /api/auth/signin. `base` is where the server really is (a
 * link may name PUBLIC_URL). Returns the form post's response (303 and the
 * cookie on success) and the cookie's `name=value`.
 */
export async function signInWithLink(base: string, link: string): Promise<{ page: Response; response: Response; cookie: string }> {
  const url = new URL(link);
  const page = await fetch(`${base}${url.pathname}${url.search}`, { redirect: "manual" });
  const response = await fetch(`${base}/api/auth/signin`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ token: url.searchParams.get("token") ?? "" }).toString(),
  });
  const cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  return { page, response, cookie };
}
