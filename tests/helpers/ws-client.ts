// A tRPC client that sends everything over one WebSocket (so mutations carry
// the connection's principal), with an optional display name in
// connectionParams; and a collector for subscriptions.
import { createTRPCClient, createWSClient, wsLink } from "@trpc/client";
import superjson from "superjson";
import NodeWebSocket from "ws";
import type { AppRouter } from "../../src/server/routers/_app";

export function wsOnlyClient(baseUrl: string, name?: string) {
  const wsClient = createWSClient({
    url: `${baseUrl.replace(/^http/, "ws")}/api/trpc-ws`,
    WebSocket: NodeWebSocket as unknown as typeof WebSocket,
    connectionParams: name ? { name } : undefined,
    retryDelayMs: () => 50,
  });
  const api = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient, transformer: superjson })] });
  return { api, wsClient, close: () => wsClient.close() };
}
export type WsOnlyClient = ReturnType<typeof wsOnlyClient>;

export interface Collected<T> {
  ids: string[];
  items: T[];
  errors: unknown[];
  unsubscribe: () => void;
}

/** Collect a subscription's values (and tracked ids) until unsubscribed. */
export function collect<T>(
  subscribe: (handlers: {
    onData: (value: T | { id: string; data: T }) => void;
    onError: (error: unknown) => void;
  }) => { unsubscribe: () => void },
  tracked = true,
): Collected<T> {
  const out: Collected<T> = { ids: [], items: [], errors: [], unsubscribe: () => undefined };
  const sub = subscribe({
    onData: (value) => {
      if (tracked) {
        const { id, data } = value as { id: string; data: T };
        out.ids.push(id);
        out.items.push(data);
      } else {
        out.items.push(value as T);
      }
    },
    onError: (error) => out.errors.push(error),
  });
  out.unsubscribe = () => sub.unsubscribe();
  return out;
}
