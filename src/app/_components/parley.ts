"use client";
// The browser's one Parley client (one WebSocket per tab, kept open so the
// connection badge means something), its connection state as a store for
// React, and a second tRPC client that sends every call over that WebSocket
// (presence.typing must travel on the connection that is present).
import { createTRPCClient, TRPCClientError, wsLink } from "@trpc/client";
import superjson from "superjson";
import { createParleyClient, fullJitterRetryDelayMs, type AppRouter, type ParleyClient } from "@parley/client";

/** Reconnect backoff for the browser: the SDK's (full jitter up to 4 s; the client probes /api/health meanwhile). */
export const browserRetryDelayMs = (attempt: number) => fullJitterRetryDelayMs(attempt);

export type ConnectionStatus =
  | { kind: "connecting" }
  | { kind: "connected"; since: number }
  | { kind: "reconnecting"; attempt: number; nextRetryAt: number | null; error: string | null }
  | { kind: "offline"; attempt: number; nextRetryAt: number | null; error: string | null };

/** After this many failed attempts (several seconds), "reconnecting" becomes "offline" (still retrying). */
const OFFLINE_AFTER_ATTEMPTS = 5;

interface Browser {
  client: ParleyClient;
  wsApi: ReturnType<typeof createTRPCClient<AppRouter>>;
}

const SERVER_STATUS: ConnectionStatus = { kind: "connecting" };

let browser: Browser | null = null;
let status: ConnectionStatus = { kind: "connecting" };
let retry = { attempt: 0, nextRetryAt: null as number | null };
let connectedOnce = false;
/** Bumped on every (re)connect; pages use it to resync. */
let connectCount = 0;
const listeners = new Set<() => void>();

function setStatus(next: ConnectionStatus) {
  status = next;
  for (const listener of listeners) listener();
}

export function displayName(): string {
  const key = "parley.name";
  let name = window.localStorage.getItem(key);
  if (!name) {
    name = `Guest ${Math.random().toString(36).slice(2, 6).toUpperCase()}`;
    window.localStorage.setItem(key, name);
  }
  return name;
}

function recompute(state: "idle" | "connecting" | "pending", error: unknown) {
  if (state === "pending") {
    retry = { attempt: 0, nextRetryAt: null };
    connectedOnce = true;
    connectCount++;
    setStatus({ kind: "connected", since: Date.now() });
    return;
  }
  if (!connectedOnce && retry.attempt === 0 && !error) {
    setStatus({ kind: "connecting" });
    return;
  }
  const offline = !navigator.onLine || retry.attempt >= OFFLINE_AFTER_ATTEMPTS;
  setStatus({
    kind: offline ? "offline" : "reconnecting",
    attempt: retry.attempt,
    nextRetryAt: retry.nextRetryAt,
    error: error ? errorMessage(error) : null,
  });
}

export function parleyBrowser(): Browser {
  if (browser) return browser;
  const client = createParleyClient({
    url: window.location.origin,
    name: displayName(),
    lazy: false,
    retryDelayMs: (attempt) => {
      const delay = browserRetryDelayMs(attempt);
      retry = { attempt: attempt + 1, nextRetryAt: Date.now() + delay };
      const current = client.wsClient?.connectionState.get();
      if (current) recompute(current.state, current.error);
      return delay;
    },
  });
  const wsClient = client.wsClient;
  if (!wsClient) throw new Error("the web UI needs the WebSocket transport");
  wsClient.connectionState.subscribe({ next: (s) => recompute(s.state, s.error) });
  window.addEventListener("online", () => recompute(wsClient.connectionState.get().state, null));
  window.addEventListener("offline", () => recompute(wsClient.connectionState.get().state, null));
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

export const connectionStore = {
  subscribe: (listener: () => void) => {
    parleyBrowser();
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  },
  get: () => status,
  /** The server render has no socket. One object: React compares snapshots by identity (a new one each call loops, and warns in development). */
  getServer: () => SERVER_STATUS,
  connectCount: () => connectCount,
};

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
