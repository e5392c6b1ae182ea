// Parley's typed client for other TypeScript apps, agents and the web UI (no
// React in it). Subscriptions go over one WebSocket (or SSE with
// transport: "sse"); queries and mutations over batched, streamed HTTP.
import {
  createTRPCClient,
  createWSClient,
  httpBatchStreamLink,
  httpSubscriptionLink,
  splitLink,
  wsLink,
  type TRPCLink,
} from "@trpc/client";
import { EventSource as NodeEventSource } from "eventsource";
import superjson from "superjson";
import NodeWebSocket from "ws";
import type { AppRouter } from "../server/routers/_app";

export type { AppRouter, RouterInputs, RouterOutputs } from "../server/routers/_app";
export type { SessionEvent } from "../shared/events";

export const TRPC_HTTP_PATH = "/api/trpc";
export const TRPC_WS_PATH = "/api/trpc-ws";

export interface ParleyClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** An API token (sent as a Bearer header and as the WS connectionParams token). */
  token?: string;
  /** How subscriptions travel. Default `ws`. */
  transport?: "ws" | "sse";
  /** Reconnect delay for attempt N (ms). Default: 0, then doubling from 250 ms up to 10 s. */
  retryDelayMs?: (attempt: number) => number;
  /** A display name sent as WS connectionParams `name` (presence, until authentication exists). */
  name?: string;
  /** Open the WebSocket only while a subscription runs (default true). The web UI keeps it open to show its state. */
  lazy?: boolean;
}

export const defaultRetryDelayMs = (attempt: number) => (attempt === 0 ? 0 : Math.min(250 * 2 ** (attempt - 1), 10_000));

export function createParleyClient(options: ParleyClientOptions) {
  const base = options.url.replace(/\/+$/, "");
  const httpUrl = `${base}${TRPC_HTTP_PATH}`;
  const wsUrl = `${base.replace(/^http/, "ws")}${TRPC_WS_PATH}`;
  const { token } = options;
  const headers = (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

  const wsClient =
    options.transport === "sse"
      ? null
      : createWSClient({
          url: wsUrl,
          // Browsers and Node 22 have a global WebSocket; Node 20 uses `ws`.
          WebSocket: globalThis.WebSocket ?? (NodeWebSocket as unknown as typeof WebSocket),
          connectionParams:
            token || options.name ? { ...(token ? { token } : {}), ...(options.name ? { name: options.name } : {}) } : undefined,
          retryDelayMs: options.retryDelayMs ?? defaultRetryDelayMs,
          // Open the socket with the first subscription, close it 5 s after the last one ends.
          lazy: { enabled: options.lazy ?? true, closeMs: 5_000 },
          keepAlive: { enabled: true, intervalMs: 15_000, pongTimeoutMs: 5_000 },
        });

  const subscriptionLink: TRPCLink<AppRouter> = wsClient
    ? wsLink<AppRouter>({ client: wsClient, transformer: superjson })
    : httpSubscriptionLink<AppRouter, typeof NodeEventSource>({
        url: httpUrl,
        transformer: superjson,
        // The `eventsource` package works in Node and browsers and lets us send headers.
        EventSource: NodeEventSource,
        eventSourceOptions: () => ({
          fetch: (input, init) => {
            const merged = new Headers(init?.headers);
            for (const [name, value] of Object.entries(headers())) merged.set(name, value);
            return fetch(input, { ...init, headers: merged });
          },
        }),
      });

  const api = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: subscriptionLink,
        false: httpBatchStreamLink({ url: httpUrl, transformer: superjson, headers }),
      }),
    ],
  });

  return {
    /** The typed tRPC client: `api.session.create.mutate(...)`, `api.session.events.subscribe(...)`. */
    api,
    /** The WebSocket client (null with transport "sse"), for connection state. */
    wsClient,
    /** Close the WebSocket; pending subscriptions end. */
    close: async () => {
      await wsClient?.close();
    },
  };
}

export type ParleyClient = ReturnType<typeof createParleyClient>;
