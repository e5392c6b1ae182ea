"use client";
// React bindings (`@parley/client/react`): a provider that holds one
// ParleyClient and the typed tRPC hooks of @trpc/tanstack-react-query for it,
// and hooks on the SDK's helpers: the connection state, a session's events
// (tail), a streamed answer (ask), and who is in a session. Needs react,
// @tanstack/react-query and @trpc/tanstack-react-query (optional peers).
import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { createTRPCClient, type TRPCClient } from "@trpc/client";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import { createContext, useCallback, useContext, useEffect, useRef, useState, useSyncExternalStore, type ReactNode } from "react";
import type { AskItem, AskOptions } from "./ask";
import type { ConnectionState } from "./connection-state";
import type { ParleyClient } from "./index";
import type { AppRouter } from "./server-types";
import type { TailItem, TailOptions } from "./tail";
import type { RouterOutputs } from "./types";

const trpc = createTRPCContext<AppRouter>();
/** TanStack Query options for every procedure: `useQuery(useTRPC().session.list.queryOptions({}))`. */
export const useTRPC = trpc.useTRPC;
/** The typed tRPC client of the provider's ParleyClient. */
export const useTRPCClient = trpc.useTRPCClient;

const ParleyContext = createContext<ParleyClient | null>(null);

export interface ParleyProviderProps {
  /** The app's client (`createParleyClient`). Null where there is none (a server render): the hooks then stay idle. */
  client: ParleyClient | null;
  queryClient: QueryClient;
  children?: ReactNode;
}

/** Provides the client to the hooks below and to `useTRPC`, inside a QueryClientProvider. */
export function ParleyProvider({ client, queryClient, children }: ParleyProviderProps) {
  // A server render never calls the API: tRPC's provider gets a client without links.
  const [idleClient] = useState<TRPCClient<AppRouter>>(() => createTRPCClient<AppRouter>({ links: [] }));
  return (
    <QueryClientProvider client={queryClient}>
      <trpc.TRPCProvider trpcClient={client?.api ?? idleClient} queryClient={queryClient}>
        <ParleyContext.Provider value={client}>{children}</ParleyContext.Provider>
      </trpc.TRPCProvider>
    </QueryClientProvider>
  );
}

/** The provider's client; null in a server render or outside a ParleyProvider. */
export function useParley(): ParleyClient | null {
  return useContext(ParleyContext);
}

const NO_CONNECTION: ConnectionState = { state: "closed", idle: true };
const noSubscription = () => () => undefined;

/** The client's connection state (connecting, open, reconnecting with its next attempt, refused, closed), re-rendering on every change. */
export function useConnectionState(): ConnectionState {
  const client = useParley();
  const subscribe = useCallback((onChange: () => void) => client?.connectionState.subscribe(onChange) ?? (() => undefined), [client]);
  return useSyncExternalStore(client ? subscribe : noSubscription, () => client?.connectionState.current ?? NO_CONNECTION, () => NO_CONNECTION);
}

export interface SessionTail {
  /** The events received, oldest first (at most `keep`). */
  items: TailItem[];
  /** The tracked id of the newest event: where a later tail resumes. */
  lastEventId: string | null;
  /** Why the tail ended (NOT_FOUND, FORBIDDEN, bad input); it resumes by itself after anything else. */
  error: unknown;
}

export interface SessionTailOptions extends Pick<TailOptions, "from" | "bufferLimit" | "idleResyncMs"> {
  /** Called with every event as it arrives (before the re-render), e.g. to merge it into a store. */
  onEvent?: (item: TailItem) => void;
  /** How many of the newest events `items` holds. Default 500; 0 holds none (use `onEvent`). */
  keep?: number;
}

/** A session's events (the SDK's `tail`): the history or the events after `from`, then live ones, resuming across reconnects. Restarts when `sessionId` or `from` changes; null stops it. */
export function useSessionTail(sessionId: string | null, options: SessionTailOptions = {}): SessionTail {
  const client = useParley();
  const { from, bufferLimit, idleResyncMs } = options;
  // The state names the tail it belongs to, so a new session starts empty without a reset in the effect.
  const key = `${sessionId ?? ""}\u0000${from ?? ""}`;
  const [tail, setTail] = useState<SessionTail & { key: string }>({ key, ...EMPTY_TAIL });
  const latest = useRef(options);
  useEffect(() => {
    latest.current = options;
  });
  useEffect(() => {
    if (!client || !sessionId) return;
    const stop = new AbortController();
    void (async () => {
      try {
        for await (const item of client.tail(sessionId, { from, bufferLimit, idleResyncMs, signal: stop.signal })) {
          latest.current.onEvent?.(item);
          const keep = latest.current.keep ?? 500;
          setTail((prev) => {
            const items = prev.key === key ? prev.items : [];
            return { key, items: keep > 0 ? [...items, item].slice(-keep) : items, lastEventId: item.id, error: null };
          });
        }
      } catch (error) {
        if (!stop.signal.aborted) setTail((prev) => ({ ...(prev.key === key ? prev : { key, ...EMPTY_TAIL }), error }));
      }
    })();
    return () => stop.abort();
  }, [client, sessionId, from, bufferLimit, idleResyncMs, key]);
  if (tail.key !== key) return EMPTY_TAIL;
  return { items: tail.items, lastEventId: tail.lastEventId, error: tail.error };
}

const EMPTY_TAIL: SessionTail = { items: [], lastEventId: null, error: null };

export interface AskState {
  status: "idle" | "streaming" | "done" | "error";
  /** The answer's text so far (the final text once done). */
  text: string;
  /** The persisted answer, once done (status `complete`, `stopped` or `error`). */
  message: Extract<AskItem, { type: "done" }>["message"] | null;
  error: unknown;
}

const IDLE_ASK: AskState = { status: "idle", text: "", message: null, error: null };

/** Ask a session's agent (the SDK's `ask`) and follow the answer as it streams; `stop` stops the run. One question at a time: asking again stops the previous run. */
export function useAsk(sessionId: string | null): AskState & { ask: (prompt: string, options?: AskOptions) => void; stop: () => void } {
  const client = useParley();
  const [state, setState] = useState<AskState>(IDLE_ASK);
  const running = useRef<AbortController | null>(null);
  useEffect(() => () => running.current?.abort(), []);
  const ask = useCallback(
    (prompt: string, options: AskOptions = {}) => {
      if (!client || !sessionId) return;
      running.current?.abort();
      const stop = new AbortController();
      running.current = stop;
      setState({ ...IDLE_ASK, status: "streaming" });
      void (async () => {
        try {
          for await (const item of client.ask(sessionId, prompt, { ...options, signal: stop.signal })) {
            if (running.current !== stop) return;
            if (item.type === "delta") setState((prev) => ({ ...prev, text: prev.text + item.text }));
            else setState({ status: "done", text: item.message.content, message: item.message, error: null });
          }
        } catch (error) {
          if (running.current === stop) setState((prev) => ({ ...prev, status: "error", error }));
        }
      })();
    },
    [client, sessionId],
  );
  // Aborting the ask's signal stops the run on the server; the iterator then yields the stopped message.
  const stop = useCallback(() => running.current?.abort(), []);
  return { ...state, ask, stop };
}

type PresenceUpdate = RouterOutputs["session"]["presence"] extends AsyncIterable<infer U> ? U : never;
export type PresenceMember = PresenceUpdate["members"][number];
export type TypingMark = PresenceUpdate["typing"][number];

/** Who is in the session (one entry per principal) and who is typing now. Restarts with a fresh list after a reconnect. */
export function usePresence(sessionId: string | null): { members: PresenceMember[]; typing: TypingMark[] } {
  const client = useParley();
  const [room, setRoom] = useState<{ members: PresenceMember[]; typing: TypingMark[] }>({ members: [], typing: [] });
  useEffect(() => {
    if (!client || !sessionId) return;
    const sub = client.api.session.presence.subscribe(
      { sessionId },
      { onData: (update) => setRoom({ members: update.members, typing: update.typing }), onError: () => setRoom({ members: [], typing: [] }) },
    );
    return () => sub.unsubscribe();
  }, [client, sessionId]);
  // Typing marks expire on the server; drop them locally at `until` too.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (room.typing.length === 0) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [room.typing.length]);
  const typing = room.typing.filter((t) => new Date(t.until).getTime() > now);
  // One entry per principal (a person may have two tabs open).
  const members = [...new Map(room.members.map((m) => [m.principalId, m])).values()];
  return { members, typing };
}
