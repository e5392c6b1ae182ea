"use client";
// The browser's one Parley client (one WebSocket per tab, kept open so the
// connection badge means something: it reads the client's connectionState),
// and a second tRPC client that sends every call over that WebSocket
// (presence.typing must travel on the connection that is present).
import { createTRPCClient, TRPCClientError, wsLink } from "@trpc/client";
import superjson from "superjson";
import { createParleyClient, type AppRouter, type ParleyClient } from "@parley/client";

interface Browser {
  client: ParleyClient;
  wsApi: ReturnType<typeof createTRPCClient<AppRouter>>;
}

let browser: Browser | null = null;

export function displayName(): string {
  const key = "parley.name";
  let name = window.localStorage.getItem(key);
  if (!name) {
    name = `Guest ${Math.random().toString(36).slice(2, 6).toUpperCase()}`;
    window.localStorage.setItem(key, name);
  }
  return name;
}

export function parleyBrowser(): Browser {
  if (browser) return browser;
  // The SDK's reconnect schedule: full jitter up to 4 s, probing /api/health meanwhile.
  const client = createParleyClient({ url: window.location.origin, name: displayName(), lazy: false });
  const wsClient = client.wsClient;
  if (!wsClient) throw new Error("the web UI needs the WebSocket transport");
  const wsApi = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
  browser = { client, wsApi };
  return browser;
}

export function parley(): ParleyClient {
  return parleyBrowser().client;
}

/** Close the current socket; the client reconnects and every subscription resumes from its tracked id. */
export function forceReconnect(): void {
  parley().wsClient?.connection?.ws.close(4001, "forced reconnect");
}

/** The server's message for an API error (tRPC puts it in `message`). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error && "type" in error) return "WebSocket closed";
  return String(error);
}

/** The tRPC error code, if the server answered one. */
export function errorCode(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<AppRouter>).data;
    return data?.code ?? null;
  }
  return null;
}

/** True when the request never got a server answer (server down, network gone): worth retrying. */
export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof TRPCClientError)) return error instanceof TypeError;
  return !(error as TRPCClientError<AppRouter>).data;
}
