// The Bus carries live events between the process that wrote them and every
// subscriber, on this instance (memory) or on all instances (Redis, later).
// It is a fast path only: the database is the source of truth, and every
// subscriber that can resume closes gaps from it.

/** A named channel whose messages have type T (the type is a compile-time tag only). */
export interface Channel<T> {
  readonly name: string;
  /** Phantom field: never set at run time, only carries T. */
  readonly _message?: T;
}

export function channel<T>(name: string): Channel<T> {
  return { name };
}

export type Unsubscribe = () => void;

export interface BusHealth {
  kind: "memory" | "redis";
  status: "up" | "down";
}

/**
 * Contract, shared by every implementation (and by the shared test suite):
 * - Ordering: messages published on one channel by one publisher are delivered
 *   to each listener in publish order. Nothing is promised across channels.
 * - Delivery: at most once, live only. A listener that subscribes after a
 *   publish never sees it; a message published while a transport is down may
 *   be lost. Persisted streams recover from the database by their seq.
 * - Isolation: a listener that throws is logged and skipped; it never stops
 *   delivery to other listeners or breaks the publisher.
 * - Listeners are called synchronously or soon after publish and must not
 *   block: they should only enqueue.
 */
export interface Bus {
  /** Deliver `message` to every current listener of `channel`. */
  publish<T>(channel: Channel<T>, message: T): void;
  /** Start listening; the returned function stops it and is idempotent. */
  subscribe<T>(channel: Channel<T>, listener: (message: T) => void): Unsubscribe;
  /** Number of listeners on this instance (for health and metrics). */
  listenerCount(): number;
  health(): BusHealth;
  close(): Promise<void>;
}
