// tail(): every event of one session, as an async iterator that outlives
// connection losses. The WebSocket link already resumes a subscription after
// a reconnect; tail also resumes after the subscription itself ends (a server
// error, a restart, a stop) by resubscribing from the last id it holds, and
// drops any persisted event it has already yielded, so each arrives once.
// Persisted ids are consecutive, so a jump means a frame was lost on the way
// (a faulty network, or PARLEY_FAULTS): tail resubscribes from the last id it
// holds instead of skipping (events a subscriber may not see still come, as
// `stream.hidden`, so ids are always consecutive). A frame lost at the very
// end is caught by an idle resync (resubscribing costs one empty back-fill).
import type { TRPCClient } from "@trpc/client";
import type { AppRouter, SessionEvent } from "./server-types";
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
  /** With no event for this long, resubscribe from the cursor to catch a lost last frame. Default 15000; 0 turns it off. */
  idleResyncMs?: number;
}

export interface TailItem {
  /** The tracked id: the event's seq for persisted events; for chat.* the seq they follow; "0" for stream.reset. */
  id: string;
  event: SessionEvent;
}

const persistedTypes = new Set<SessionEvent["type"]>(["message.created", "message.updated", "message.deleted", "session.updated", "stream.hidden"]);

export async function* tailSession(
  api: TRPCClient<AppRouter>,
  sessionId: string,
  options: TailOptions & { lifetime: AbortSignal; retryDelayMs: (attempt: number) => number },
): AsyncGenerator<TailItem, void, undefined> {
  let cursor: string | undefined;
  if (options.from === "end") {
    const session = await api.session.get.query({ id: sessionId });
    // Tracked ids are event seqs (lastEventSeq), not message seqs.
    cursor = String(session.lastEventSeq);
  } else if (options.from !== undefined) {
    cursor = String(options.from);
  }
  // The last persisted seq queued for the consumer: anything at or below it is a duplicate.
  let lastSeq = cursor !== undefined && /^\d+$/.test(cursor) ? Number(cursor) : 0;
  const signal = options.signal ? AbortSignal.any([options.signal, options.lifetime]) : options.lifetime;
  const idleResyncMs = options.idleResyncMs ?? 15_000;

  yield* resumableSubscription<TailItem>({
    signal,
    highWater: options.bufferLimit,
    retryDelayMs: options.retryDelayMs,
    isPermanent: isPermanentFailure,
    open: (sink) => {
      let idle: ReturnType<typeof setTimeout> | undefined;
      const armIdle = () => {
        if (idleResyncMs <= 0) return;
        clearTimeout(idle);
        idle = setTimeout(() => sink.complete(), idleResyncMs);
      };
      armIdle();
      const subscription = api.session.events.subscribe(
        { sessionId, lastEventId: cursor },
        {
          onData: ({ id, data }) => {
            armIdle();
            if (data.type === "stream.reset") {
              // The cursor cannot belong to this stream: the whole stream follows.
              lastSeq = 0;
              cursor = undefined;
            } else if (persistedTypes.has(data.type)) {
              const seq = Number(id);
              if (seq <= lastSeq) return;
              if (seq > lastSeq + 1) {
                // A lost frame: resume from what we hold rather than skip it.
                clearTimeout(idle);
                sink.complete();
                return;
              }
              lastSeq = seq;
              cursor = id;
            }
            sink.push({ id, event: data });
          },
          onError: (error) => {
            clearTimeout(idle);
            sink.error(error);
          },
          onComplete: () => {
            clearTimeout(idle);
            sink.complete();
          },
        },
      );
      return {
        unsubscribe: () => {
          clearTimeout(idle);
          subscription.unsubscribe();
        },
      };
    },
  });
}
