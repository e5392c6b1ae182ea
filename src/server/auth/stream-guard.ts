// Every subscription runs inside a StreamGuard (trpc.ts, `streamProcedure`).
// The guard takes the caller's subscription slot (MAX_SUBSCRIPTIONS_PER_CONNECTION)
// and, for an SSE stream (a connection of its own), a connection slot of its
// principal and of its address (auth/limits.ts `openStream`), counts the subscription by procedure while it runs, and watches the
// caller's access: a revoked or expired token ends the stream with
// UNAUTHORIZED; losing read access to a session the stream reads (removed as
// a member) ends it with FORBIDDEN. The stream gets the guard as `ctx.stream`:
// `signal` aborts when tRPC stops the subscription or access ends, and
// `readsSession` names a session the stream reads.
//
// The guard is also the iterator tRPC reads: it ends the stream with the
// access error at once, even while the stream itself is waiting for its
// next value. One object per subscription, methods on the prototype (an
// idle server holds thousands).
import type { TRPCError } from "@trpc/server";
import type { Auth } from ".";
import type { Principal } from "./principal";

/** What a stream sees of its guard. */
export interface StreamScope {
  /** Pass it to the stream: aborted when tRPC stops the subscription, or when the caller's access ends. */
  readonly signal: AbortSignal | undefined;
  /**
   * The stream reads `sessionId`: losing read access to it ends the stream
   * with FORBIDDEN. Call it before checking access, so that a removal between
   * the check and the watch is not missed.
   */
  readsSession(sessionId: string): void;
}

/** Where running subscriptions are counted (the connection registry and the hub's counters). */
export interface SubscriptionCounts {
  subscriptionOpened(connectionId: string, path: string): void;
  subscriptionClosed(connectionId: string, path: string): void;
  /** A running subscription of the connection reads `sessionId` (the connections view groups by it), until `sessionClosed`. */
  sessionOpened(connectionId: string, sessionId: string): void;
  sessionClosed(connectionId: string, sessionId: string): void;
}

export class StreamGuard implements StreamScope, AsyncIterableIterator<unknown> {
  private controller: AbortController | null = null;
  /** The sessions this stream reads (watched for removal); null when nothing is watched. */
  private readonly sessions: Set<string> | null = null;
  /** The sessions this stream named (counted on its connection while it runs); null: none. */
  private read: string[] | null = null;
  /** Why the caller lost access; set once. */
  private lostBy: TRPCError | null = null;
  /** Rejects the pending `next` of the stream when access is lost. */
  private interrupt: ((reason: Error) => void) | null = null;
  private readonly stopWatching: (() => void) | null;
  private readonly release: () => void;
  /** SSE: the stream's connection slots; null on a WebSocket (its connection holds them). */
  private readonly releaseConnection: (() => void) | null;
  private iterator: AsyncIterator<unknown> | null = null;
  private ended = false;

  /** Takes the subscription slot and an SSE stream's connection slots (TOO_MANY_REQUESTS when one is not free) and starts watching. */
  constructor(
    auth: Auth,
    principal: Principal,
    private readonly connectionId: string,
    private readonly path: string,
    private readonly counts: SubscriptionCounts,
    /** tRPC's signal for this subscription. */
    private readonly trpcSignal: AbortSignal | undefined,
    /** SSE: the client's address (behind a trusted proxy, the one it names); null on a WebSocket. */
    sseAddress: string | null,
  ) {
    this.release = auth.limits.openSubscription(connectionId);
    try {
      this.releaseConnection = sseAddress === null ? null : auth.limits.openStream(principal.id, sseAddress);
    } catch (error) {
      this.release();
      throw error;
    }
    counts.subscriptionOpened(connectionId, path);
    const sessions = auth.enabled && principal.kind !== "anonymous" ? new Set<string>() : null;
    this.stopWatching = sessions && auth.watchStream(principal, sessions, (error) => this.lose(error));
    if (!this.stopWatching) return;
    // Something can end the stream: it gets its own signal, which also follows tRPC's.
    this.sessions = sessions;
    this.controller = new AbortController();
    if (trpcSignal?.aborted) this.controller.abort(trpcSignal.reason);
    else trpcSignal?.addEventListener("abort", this, { once: true });
  }

  get signal(): AbortSignal | undefined {
    // Nothing watched (authentication off, anonymous): the stream's signal is tRPC's own.
    return this.controller?.signal ?? this.trpcSignal;
  }

  readsSession(sessionId: string): void {
    this.sessions?.add(sessionId);
    if (this.ended || this.read?.includes(sessionId)) return;
    (this.read ??= []).push(sessionId);
    this.counts.sessionOpened(this.connectionId, sessionId);
  }

  /** The stream the procedure returned: from now on, read through this guard. */
  guard(stream: AsyncIterable<unknown>): this {
    this.iterator = stream[Symbol.asyncIterator]();
    return this;
  }

  /** tRPC's signal aborted (the client stopped the subscription or left). */
  handleEvent(): void {
    this.controller?.abort(this.trpcSignal?.reason);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    if (this.lostBy !== null) {
      this.finish();
      return Promise.reject(this.lostBy);
    }
    const iterator = this.iterator;
    if (!iterator) return Promise.resolve({ done: true, value: undefined });
    const step = iterator.next().then(
      (result) => {
        this.interrupt = null;
        if (result.done) this.finish();
        return result;
      },
      (error: unknown) => {
        this.interrupt = null;
        this.finish();
        throw error;
      },
    );
    if (!this.controller) return step;
    return new Promise((resolve, reject) => {
      this.interrupt = (reason) => {
        this.finish();
        reject(reason);
      };
      step.then(resolve, reject);
    });
  }

  /** Resolves once the stream has ended (tRPC reports the subscription stopped after that). */
  return(value?: unknown): Promise<IteratorResult<unknown>> {
    const iterator = this.iterator;
    this.end();
    this.iterator = null;
    const returned = Promise.resolve(iterator?.return?.()).catch(() => undefined);
    return returned.then(() => ({ done: true, value }));
  }

  throw(error?: unknown): Promise<IteratorResult<unknown>> {
    this.finish();
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  /** Once: stop watching, give the slot back, stop counting. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.trpcSignal?.removeEventListener("abort", this);
    this.stopWatching?.();
    this.release();
    this.releaseConnection?.();
    this.counts.subscriptionClosed(this.connectionId, this.path);
    for (const sessionId of this.read ?? []) this.counts.sessionClosed(this.connectionId, sessionId);
  }

  private lose(error: TRPCError): void {
    if (this.lostBy !== null || this.ended) return;
    this.lostBy = error;
    this.controller?.abort(error);
    const interrupt = this.interrupt;
    this.interrupt = null;
    interrupt?.(error);
  }

  /** The stream is over (done, failed or access lost): end the guard, and let the stream clean up. */
  private finish(): void {
    if (this.ended) return;
    this.end();
    const iterator = this.iterator;
    this.iterator = null;
    void Promise.resolve(iterator?.return?.()).catch(() => undefined);
  }
}
