// tail(): every event of one session, as an async iterator that outlives
// connection losses. The WebSocket link already resumes a subscription after
// a reconnect; tail also resumes after the subscription itself ends (a server
// error, a restart, a stop) by resubscribing from the last id it holds, and
// drops any persisted event it has already yielded, so each arrives once.
import type { TRPCClient } from "@trpc/client";
import type { AppRouter } from "../server/routers/_app";
import type { SessionEvent } from "../shared/events";
import { isPermanentFailure } from "./errors";
import { resumableSubscription } from "./resumable";

export interface TailOptions {
  /**
   * Where to start: a tracked id (the events after it), `"end"` (only new events),
   * or omitted (the whole history, then live events).
   */
  from?: string | number;
  /** Ends the iterator (it returns; no error). */
  signal?: AbortSignal;
  /**
   * Events held for a consumer that is behind. Past it, tail unsubscribes and
   * resubscribes from its cursor once the consumer catches up, so memory stays
   * bounded. Default 1000.
   */
  bufferLimit?: number;
}

export interface TailItem {
  /** The tracked id: the event's seq for persisted events; for chat.* the seq they follow; "0" for stream.reset. */
  id: string;
  event: SessionEvent;
}

const persistedTypes = new Set<SessionEvent["type"]>(["message.created", "message.updated", "session.updated"]);

export async function* tailSession(
  api: TRPCClient<AppRouter>,
  sessionId: string,
  options: TailOptions & { lifetime: AbortSignal; retryDelayMs: (attempt: number) => number },
): AsyncGenerator<TailItem, void, undefined> {
  let cursor: string | undefined;
  if (options.from === "end") {
    const session = await api.session.get.query({ id: sessionId });
    cursor = String(session.lastSeq);
  } else if (options.from !== undefined) {
    cursor = String(options.from);
  }
  // The last persisted seq queued for the consumer: anything at or below it is a duplicate.
  let lastSeq = cursor !== undefined && /^\d+$/.test(cursor) ? Number(cursor) : 0;
  const signal = options.signal ? AbortSignal.any([options.signal, options.lifetime]) : options.lifetime;

  yield* resumableSubscription<TailItem>({
    signal,
    highWater: options.bufferLimit,
    retryDelayMs: options.retryDelayMs,
    isPermanent: isPermanentFailure,
    open: (sink) =>
      api.session.events.subscribe(
        { sessionId, lastEventId: cursor },
        {
          onData: ({ id, data }) => {
            if (data.type === "stream.reset") {
              // The cursor cannot belong to this stream: the whole stream follows.
              lastSeq = 0;
              cursor = undefined;
            } else if (persistedTypes.has(data.type)) {
              const seq = Number(id);
              if (seq <= lastSeq) return;
              lastSeq = seq;
              cursor = id;
            }
            sink.push({ id, event: data });
          },
          onError: (error) => sink.error(error),
          onComplete: () => sink.complete(),
        },
      ),
  });
}
