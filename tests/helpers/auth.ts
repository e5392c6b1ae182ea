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

/** Open a raw WebSocket to the tRPC endpoint; resolves with "open" or the response to a refused upgrade. */
export function upgradeResponse(url: string, headers: Record<string, string>): Promise<"open" | IncomingMessage> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/api/trpc-ws`, { headers });
    ws.on("open", () => {
      void ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => resolve(res));
    ws.on("error", () => undefined);
  });
}

/** "open", or the HTTP status of a refused upgrade. */
export async function upgrade(url: string, headers: Record<string, string>): Promise<"open" | number> {
  const response = await upgradeResponse(url, headers);
  return response === "open" ? response : (response.statusCode ?? 0);
}
