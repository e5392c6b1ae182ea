// Parley's typed client for other TypeScript apps, agents and the web UI (no
// React in it). Subscriptions go over one WebSocket (or SSE with
// transport: "sse"); queries and mutations over batched HTTP (plain JSON: cheaper for the server than the streamed JSONL batch).
// Besides the raw typed client (`api`) it has the helpers most programs need:
// `connectionState`, `tail` (a session's events, resuming across reconnects)
// and `ask` (a chat answer as it streams, stoppable with an AbortSignal).
import {
  createTRPCClient,
  createWSClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  wsLink,
  type TRPCClient,
  type TRPCLink,
  type TRPCWebSocketClient,
} from "@trpc/client";
import { EventSource as NodeEventSource } from "eventsource";
import superjson from "superjson";
import type { AppRouter } from "./server-types";
import type { RouterOutputs } from "./types";
import { askSession, followRun, type AskItem, type AskOptions } from "./ask";
import {
  ConnectionStateSource,
  followWsClient,
  reportingRetryDelay,
  sseConnectionStateLink,
  type ConnectionStateObservable,
} from "./connection-state";
import { recall, remember, type RecallOptions, type RememberOptions } from "./memory";
import { fullJitterRetryDelayMs, ReconnectGate } from "./reconnect";
import { UpgradeRefusals, type UpgradeRefusal } from "./refusals";
import { tailSession, type TailItem, type TailOptions } from "./tail";

export type * from "./types";
export type { AskItem, AskOptions } from "./ask";
export type { ConnectionState, ConnectionStateListener, ConnectionStateObservable } from "./connection-state";
export type { TailItem, TailOptions } from "./tail";
export type { RecallOptions, RememberOptions } from "./memory";
export { describeFailure, isPermanentFailure, type ParleyFailure, type ParleyFailureKind } from "./errors";
export type { UpgradeRefusal, UpgradeRefusalCode } from "./refusals";
export { fullJitterRetryDelayMs, PROBE_PERIOD_MS, RETRY_BASE_MS, RETRY_CAP_MS } from "./reconnect";

export const TRPC_HTTP_PATH = "/api/trpc";
export const TRPC_WS_PATH = "/api/trpc-ws";

export interface ParleyClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** An API token (sent as a Bearer header and as the WS connectionParams token). */
  token?: string;
  /** How subscriptions travel. Default `ws`. */
  transport?: "ws" | "sse";
  /**
   * Reconnect delay for attempt N (ms). Default: full jitter, a random wait
   * up to 250 ms · 2^N, capped at 4 s (`fullJitterRetryDelayMs`). A WebSocket
   * client probes `/api/health` while it waits and tries again within about
   * a second of the server answering (reconnect.ts).
   */
  retryDelayMs?: (attempt: number) => number;
  /** A display name sent as WS connectionParams `name` (presence; with PARLEY_AUTH=off, the principal's name). */
  name?: string;
  /** Open the WebSocket only while a subscription runs (default true). The web UI keeps it open to show its state. */
  lazy?: boolean;
}

export const defaultRetryDelayMs = (attempt: number) => fullJitterRetryDelayMs(attempt);

export interface ParleyClient {
  /** The typed tRPC client: `api.session.create.mutate(...)`, `api.session.events.subscribe(...)`. */
  api: TRPCClient<AppRouter>;
  /** The WebSocket client (null with transport "sse"), for connection state. */
  wsClient: TRPCWebSocketClient | null;
  /**
   * What the transport is doing: connecting, open, reconnecting (with the
   * attempt, its delay and when it starts), refused (the server refused the
   * WebSocket upgrade: TOO_MANY_REQUESTS waits its retry-after; UNAUTHORIZED,
   * FORBIDDEN and NOT_FOUND end the subscriptions and stop retrying), closed.
   * With SSE it follows the running subscriptions (closed when none runs).
   */
  connectionState: ConnectionStateObservable;
  /**
   * The session's events as `{ id, event }`, oldest first: the history (or the
   * events after `from`), then live ones. Resumes by itself after any
   * disconnect or server-side end of the stream, each persisted event exactly
   * once. Ends when `signal` aborts or the client closes; throws on NOT_FOUND,
   * UNAUTHORIZED, FORBIDDEN and bad input.
   */
  tail(sessionId: string, options?: TailOptions): AsyncGenerator<TailItem, void, undefined>;
  /**
   * Ask the session's (or `agentId`'s) agent: chat.send, then the answer's
   * deltas as they stream, then `done` with the persisted message. Aborting
   * `signal` stops the run (chat.stop) and yields `done` with the stopped
   * message. Leaving the loop early does not stop the run (runs belong to the server).
   */
  ask(sessionId: string, prompt: string, options?: AskOptions): AsyncGenerator<AskItem, void, undefined>;
  /**
   * Follow a run started another way (chat.regenerate, another client's
   * chat.send): its deltas from the start, then `done`. Aborting `signal` stops the run.
   */
  followRun(runId: string, options?: { signal?: AbortSignal }): AsyncGenerator<AskItem, void, undefined>;
  /** Store a memory (memory.store): global and public unless `options` say otherwise. */
  remember(content: string, options?: RememberOptions): Promise<RouterOutputs["memory"]["store"]>;
  /** The memories that best match `query` (memory.recall), with scores and matched words. */
  recall(query: string, options?: RecallOptions): Promise<RouterOutputs["memory"]["recall"]>;
  /** Close the WebSocket; pending subscriptions end, `tail` and `ask` iterators return. */
  close(): Promise<void>;
}

export function createParleyClient(options: ParleyClientOptions): ParleyClient {
  const base = options.url.replace(/\/+$/, "");
  const httpUrl = `${base}${TRPC_HTTP_PATH}`;
  const wsUrl = `${base.replace(/^http/, "ws")}${TRPC_WS_PATH}`;
  const { token } = options;
  const headers = (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});
  const retryDelayMs = options.retryDelayMs ?? defaultRetryDelayMs;
  // Aborted by close(): ends the helpers' iterators so they never reopen a closed client.
  const lifetime = new AbortController();
  const connectionState = new ConnectionStateSource(
    options.transport !== "sse" && options.lazy === false ? { state: "connecting" } : { state: "closed", idle: true },
  );
  let lastConnectionError: string | null = null;
  // Upgrades the server refuses (429, 401, 403, 421): typed, waited for, or final (refusals.ts).
  const refusals = new UpgradeRefusals();
  const onFinalRefusal = (refusal: UpgradeRefusal) => {
    refusals.endSubscriptions(refusal);
    // Stop reconnecting; a new subscription opens the socket again (lazy), and learns anew.
    void wsClient?.close();
  };

  // Each reconnect attempt waits here: its scheduled delay, or less once a probe finds the server back.
  const gate = new ReconnectGate({ healthUrl: `${base}/api/health`, signal: lifetime.signal });
  const wsClient =
    options.transport === "sse"
      ? null
      : createWSClient({
          url: () => gate.wait().then(() => wsUrl),
          // Browsers have a global WebSocket (which does not tell why an upgrade failed); in Node, `ws`, which does.
          WebSocket: globalThis.WebSocket ?? (refusals.nodeWebSocket() as unknown as typeof WebSocket),
          connectionParams:
            token || options.name ? { ...(token ? { token } : {}), ...(options.name ? { name: options.name } : {}) } : undefined,
          retryDelayMs: reportingRetryDelay(connectionState, retryDelayMs, () => lastConnectionError, { take: () => refusals.take(), onFinal: onFinalRefusal }, gate),
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

  const stopFollowing = wsClient
    ? followWsClient(connectionState, wsClient, (message) => (lastConnectionError = message), () => gate.connected())
    : () => undefined;

  const api = createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        // With SSE there is no socket to watch: the subscriptions report the state.
        true: wsClient ? [refusals.link<AppRouter>(), subscriptionLink] : [sseConnectionStateLink<AppRouter>(connectionState, retryDelayMs), subscriptionLink],
        false: httpBatchLink({ url: httpUrl, transformer: superjson, headers }),
      }),
    ],
  });

  return {
    api,
    wsClient,
    connectionState,
    tail: (sessionId, tailOptions = {}) => tailSession(api, sessionId, { ...tailOptions, lifetime: lifetime.signal, retryDelayMs }),
    ask: (sessionId, prompt, askOptions = {}) =>
      askSession(api, sessionId, prompt, { ...askOptions, lifetime: lifetime.signal, retryDelayMs }),
    followRun: (runId, runOptions = {}) => followRun(api, runId, { signal: runOptions.signal, lifetime: lifetime.signal, retryDelayMs }),
    remember: (content, rememberOptions) => remember(api, content, rememberOptions),
    recall: (query, recallOptions) => recall(api, query, recallOptions),
    close: async () => {
      lifetime.abort();
      stopFollowing();
      await wsClient?.close();
      connectionState.end();
    },
  };
}
