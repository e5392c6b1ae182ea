// Fan-out instrumentation. The bus decorator stamps each published object
// with the publish time; the subscription wrapper (a tRPC middleware, see
// trpc.ts) counts active subscriptions by procedure and, when a yielded value
// carries a stamp, hands it to the connection so its next socket write
// observes publish → write (see ConnectionRegistry). Cost per delivery: one
// WeakMap lookup; per publish: one or two WeakMap writes.
import { isTrackedEnvelope } from "@trpc/server";
import type { Bus, Channel } from "../bus/bus";
import type { HubStats } from "./hub-stats";

/** Publish times (performance.now()) of published objects. */
export class PublishStamps {
  private readonly stamps = new WeakMap<object, number>();

  stamp(message: unknown): void {
    if (typeof message !== "object" || message === null) return;
    const now = performance.now();
    this.stamps.set(message, now);
    // Session streams publish `{ seq, event }` and yield `event`: stamp both.
    const inner = (message as { event?: unknown }).event;
    if (typeof inner === "object" && inner !== null) this.stamps.set(inner, now);
  }

  /** The publish time of a yielded value (or of a tracked envelope's data); 0 when unknown. */
  of(value: unknown): number {
    const data: unknown = isTrackedEnvelope(value) ? value[1] : value;
    if (typeof data !== "object" || data === null) return 0;
    return this.stamps.get(data) ?? 0;
  }
}

/**
 * Make `bus.publish` stamp and count each message before delegating. Patches
 * the instance (rather than wrapping it) so every other method of whichever
 * Bus implementation this is stays as it is.
 */
export function instrumentBus<B extends Bus>(bus: B, stats: HubStats, stamps: PublishStamps): B {
  const publish = bus.publish.bind(bus);
  bus.publish = <T>(channel: Channel<T>, message: T): void => {
    stats.publishes++;
    stamps.stamp(message);
    publish(channel, message);
  };
  return bus;
}

export interface SubscriptionHooks {
  /** Called once when the stream ends (completed, failed or stopped). */
  onEnd(): void;
  /** Called with each value's publish stamp (0 when unknown). */
  onValue(publishedAt: number): void;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

/**
 * Wrap a subscription's async iterable without an extra generator layer:
 * `next` adds one `.then` per value. Anything that is not an async iterable
 * (an observable) is returned as is. The wrapper is iterated once (a
 * subscription is).
 */
export function instrumentIterable(result: unknown, stamps: PublishStamps, hooks: SubscriptionHooks): unknown {
  if (!isAsyncIterable(result)) return result;
  return new InstrumentedIterator(result, stamps, hooks);
}

/**
 * One object per subscription, methods on the prototype (issue #9: thousands
 * of idle subscriptions). It is its own async-disposable resource, so tRPC
 * does not attach a dispose closure to it.
 */
class InstrumentedIterator implements AsyncIterableIterator<unknown>, AsyncDisposable {
  private iterator: AsyncIterator<unknown> | null = null;
  private ended = false;

  constructor(
    private readonly source: AsyncIterable<unknown>,
    private readonly stamps: PublishStamps,
    private readonly hooks: SubscriptionHooks,
  ) {}

  [Symbol.asyncIterator](): this {
    this.iterator ??= this.source[Symbol.asyncIterator]();
    return this;
  }

  next(): Promise<IteratorResult<unknown>> {
    return this.inner().next().then(
      (step) => {
        if (step.done) this.end();
        else this.hooks.onValue(this.stamps.of(step.value));
        return step;
      },
      (error: unknown) => {
        this.end();
        throw error;
      },
    );
  }

  return(value?: unknown): Promise<IteratorResult<unknown>> {
    this.end();
    const iterator = this.inner();
    return iterator.return ? iterator.return(value) : Promise.resolve({ done: true as const, value });
  }

  throw(error?: unknown): Promise<IteratorResult<unknown>> {
    this.end();
    const iterator = this.inner();
    return iterator.throw ? iterator.throw(error) : Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }

  /** What tRPC calls when the subscription is over: the same as `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  private inner(): AsyncIterator<unknown> {
    return (this.iterator ??= this.source[Symbol.asyncIterator]());
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.hooks.onEnd();
  }
}
