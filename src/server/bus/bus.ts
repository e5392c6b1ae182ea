// The Bus carries live events between the process that wrote them and every
// subscriber, on this instance (memory.ts) or on all instances (redis.ts).
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

/** `stop` as an Unsubscribe: it runs on the first call only (an Unsubscribe is idempotent). */
export function unsubscribeOnce(stop: () => void): Unsubscribe {
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    stop();
  };
}

/** Per-subscription options. */
export interface SubscribeOptions {
  /**
   * Called (with no message) when the bus cannot vouch that this listener saw
   * every message published on the channel since it subscribed: after the
   * transport first confirms a subscription that was not live at once, and
   * after a reconnect has re-established it. The listener is live again when
   * this runs; a listener of a persisted stream should re-read from the
   * database what it may have missed. The in-process bus never calls it.
   */
  onResync?: () => void;
}

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
 * - Gaps are announced, from both ends. Subscribing end: whenever a listener
 *   may have missed messages because the transport was down or its
 *   subscription was not yet confirmed, its `onResync` runs once the
 *   subscription is live again (see SubscribeOptions). Publishing end: a
 *   publish the transport could not carry is remembered by channel, and once
 *   the transport carries publishes again the publisher announces a gap on
 *   each such channel: every listener of it, on every instance, gets
 *   `onResync`. Redis: the publish connection reconnects within
 *   REDIS_RETRY_MAX_MS of Redis being reachable, and announces at once.
 * - What no announcement can cover (a publisher that dies before it can
 *   announce, a message Redis accepted but never delivered) is left to the
 *   readers' own positions: persisted streams compare what they hold with the
 *   database (realtime/hub.ts, the position check).
 */
export interface Bus {
  /**
   * Deliver `message` to every current listener of `channel`. Fire and
   * forget: it never throws and never waits; a transport failure is logged.
   * The message must survive a superjson round trip (Dates are fine).
   */
  publish<T>(channel: Channel<T>, message: T): void;
  /** Start listening; the returned function stops it and is idempotent. */
  subscribe<T>(channel: Channel<T>, listener: (message: T) => void, options?: SubscribeOptions): Unsubscribe;
  /**
   * Resolves once every subscribe and unsubscribe issued so far has taken
   * effect on the transport, or failed because it is down (memory: at once).
   * After it, a message published anywhere reaches the listeners.
   */
  ready(): Promise<void>;
  /** Number of listeners on this instance (for health and metrics). */
  listenerCount(): number;
  /** Messages this instance has published since it started, dropped ones included (metrics). */
  publishedCount(): number;
  /** Of those, the ones the transport could not carry (their channels' gaps are announced; metrics). */
  failedPublishCount(): number;
  health(): BusHealth;
  close(): Promise<void>;
}
