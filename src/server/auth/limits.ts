// Limits (rate-limiter-flexible): calls per second per connection and per
// principal, subscriptions per connection, WebSocket connections per principal
// and per address, chat runs per principal. Each refusal is TOO_MANY_REQUESTS
// naming the limit and when to retry. With REDIS_URL the per-principal call
// rate lives in Redis (RateLimiterRedis), shared by every instance; the rest is
// per instance (a connection lives on one instance).
import { TRPCError } from "@trpc/server";
import type { Redis } from "ioredis";
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from "rate-limiter-flexible";
import type { Config } from "../env";
import { addressKey } from "./proxies";

/** The cause of a rate-limit refusal; trpc.ts copies `retryAfterMs` into the error's data. */
export class RetryAfter extends Error {
  override readonly name = "RetryAfter";
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}

/**
 * The retry-after of a refusal that waits for something to end (a subscription,
 * a chat run, a connection) rather than for a bucket to refill: when to look again.
 */
export const SLOT_RETRY_AFTER_MS = 1_000;

export function tooManyRequests(message: string, retryAfterMs: number): TRPCError {
  const cause = new RetryAfter(message, retryAfterMs);
  return new TRPCError({ code: "TOO_MANY_REQUESTS", message: `${message}; retry after ${retryAfterMs} ms`, cause });
}

/**
 * A token bucket of `rate` per second holding `rate + burst`: the rate
 * limiter, then a burst allowance refilled over 10 s. In `store` (Redis) when
 * given, with an in-memory insurance bucket that decides while Redis is down.
 */
function bucket(prefix: string, rate: number, burst: number, store: Redis | null = null): BurstyRateLimiter | RateLimiterAbstract {
  const limiter = (keyPrefix: string, points: number, duration: number) =>
    store
      ? new RateLimiterRedis({
          storeClient: store,
          keyPrefix: `parley:rl:${keyPrefix}`,
          points,
          duration,
          rejectIfRedisNotReady: true,
          insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
        })
      : new RateLimiterMemory({ keyPrefix, points, duration });
  const steady = limiter(prefix, rate, 1);
  if (burst === 0) return steady;
  return new BurstyRateLimiter(steady, limiter(`${prefix}-burst`, burst, 10));
}

/** Counts of open things per key, with a cap. */
class Counter {
  private readonly counts = new Map<string, number>();
  /** @param keyOf what a slot is counted by (addresses: `addressKey`, an IPv6 client's /64) */
  constructor(
    readonly max: number,
    private readonly keyOf: (key: string) => string = (key) => key,
  ) {}
  count(key: string): number {
    return this.counts.get(this.keyOf(key)) ?? 0;
  }
  /** Take one slot; null when full. The release function is idempotent. */
  take(slot: string): (() => void) | null {
    const key = this.keyOf(slot);
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return null;
    this.counts.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.counts.get(key) ?? 0) - 1;
      if (left > 0) this.counts.set(key, left);
      else this.counts.delete(key);
    };
  }
}

export class Limits {
  private readonly perConnection;
  private readonly perPrincipal;
  readonly subscriptions: Counter;
  readonly connectionsByPrincipal: Counter;
  readonly connectionsByAddress: Counter;
  readonly chatRuns: Counter;

  /** @param store Redis for the per-principal rate (REDIS_URL; see limiter-store.ts), or null for memory. */
  constructor(
    private readonly config: Config,
    store: Redis | null = null,
  ) {
    this.perConnection = bucket("conn", config.RATE_LIMIT_PER_CONNECTION, config.RATE_LIMIT_BURST);
    this.perPrincipal = bucket("principal", config.RATE_LIMIT_PER_PRINCIPAL, config.RATE_LIMIT_BURST, store);
    this.subscriptions = new Counter(config.MAX_SUBSCRIPTIONS_PER_CONNECTION);
    this.connectionsByPrincipal = new Counter(config.MAX_CONNECTIONS_PER_PRINCIPAL);
    this.connectionsByAddress = new Counter(config.MAX_CONNECTIONS_PER_ADDRESS, addressKey);
    this.chatRuns = new Counter(config.CHAT_MAX_RUNS_PER_PRINCIPAL);
  }

  /** One call: a token from the connection's bucket and (when known) the principal's; TOO_MANY_REQUESTS otherwise. */
  async consumeCall(connectionKey: string, principalKey: string | null): Promise<void> {
    await this.consume(this.perConnection, connectionKey, `more than ${this.config.RATE_LIMIT_PER_CONNECTION} calls per second on this connection (RATE_LIMIT_PER_CONNECTION, burst RATE_LIMIT_BURST)`);
    if (principalKey !== null) {
      await this.consume(this.perPrincipal, principalKey, `more than ${this.config.RATE_LIMIT_PER_PRINCIPAL} calls per second by this principal (RATE_LIMIT_PER_PRINCIPAL, burst RATE_LIMIT_BURST)`);
    }
  }

  private async consume(limiter: BurstyRateLimiter | RateLimiterAbstract, key: string, message: string): Promise<void> {
    try {
      await limiter.consume(key);
    } catch (error) {
      if (error instanceof RateLimiterRes) throw tooManyRequests(message, Math.max(1, Math.ceil(error.msBeforeNext)));
      throw error;
    }
  }

  /** A subscription slot on a connection, or TOO_MANY_REQUESTS. */
  openSubscription(connectionId: string): () => void {
    const release = this.subscriptions.take(connectionId);
    if (!release) {
      throw tooManyRequests(
        `${this.subscriptions.max} subscriptions are open on this connection; the limit is ${this.subscriptions.max} (MAX_SUBSCRIPTIONS_PER_CONNECTION). End one first`,
        SLOT_RETRY_AFTER_MS,
      );
    }
    return release;
  }

  /** What every call on a WebSocket connection over MAX_CONNECTIONS_PER_PRINCIPAL is answered (the connection stays open). */
  connectionRefusal(): TRPCError {
    const max = this.connectionsByPrincipal.max;
    return tooManyRequests(`${max} connections of yours (WebSockets and SSE streams) are open; the limit is ${max} (MAX_CONNECTIONS_PER_PRINCIPAL). Close one, then reconnect`, SLOT_RETRY_AFTER_MS);
  }

  /**
   * An SSE stream holds an HTTP response open as a WebSocket holds its
   * socket, so it is a connection too: a slot of MAX_CONNECTIONS_PER_PRINCIPAL
   * and one of MAX_CONNECTIONS_PER_ADDRESS (`address`: the client behind any
   * trusted proxy), or TOO_MANY_REQUESTS. The release is idempotent.
   */
  openStream(principalId: string, address: string): () => void {
    const byPrincipal = this.connectionsByPrincipal.take(principalId);
    if (!byPrincipal) throw this.connectionRefusal();
    const byAddress = this.connectionsByAddress.take(address);
    if (!byAddress) {
      byPrincipal();
      const max = this.connectionsByAddress.max;
      throw tooManyRequests(`${max} connections (WebSockets and SSE streams) are open from your address; the limit is ${max} (MAX_CONNECTIONS_PER_ADDRESS). Close one first`, SLOT_RETRY_AFTER_MS);
    }
    return () => {
      byPrincipal();
      byAddress();
    };
  }

  /** A chat run slot for a principal, or TOO_MANY_REQUESTS. */
  startChatRun(principalId: string): () => void {
    const release = this.chatRuns.take(principalId);
    if (!release) {
      throw tooManyRequests(
        `you have ${this.chatRuns.max} chat runs streaming; the limit is ${this.chatRuns.max} (CHAT_MAX_RUNS_PER_PRINCIPAL). Wait for one to finish or call chat.stop`,
        SLOT_RETRY_AFTER_MS,
      );
    }
    return release;
  }
}
