// The in-process Bus: the embedded default. Delivery is synchronous, in
// publish order, to the listeners registered at the time of publishing.
import type { Logger } from "pino";
import { unsubscribeOnce, type Bus, type BusHealth, type Channel, type SubscribeOptions, type Unsubscribe } from "./bus";

type Listener = (message: unknown) => void;

/**
 * One subscription. An object rather than a wrapper closure: it is as
 * distinct per subscription, and smaller (an idle server holds one per subscriber).
 */
interface Entry {
  readonly listener: Listener;
}

export class MemoryBus implements Bus {
  /**
   * Listeners per channel, copy-on-write: (un)subscribing replaces the array,
   * so publish iterates a snapshot without copying it (a listener that
   * unsubscribes during delivery does not make another one skip).
   */
  private readonly listeners = new Map<string, readonly Entry[]>();
  private count = 0;
  private published = 0;

  constructor(private readonly log?: Logger) {}

  publish<T>(channel: Channel<T>, message: T): void {
    this.published++;
    const list = this.listeners.get(channel.name);
    if (!list) return;
    for (const { listener } of list) {
      try {
        listener(message);
      } catch (error) {
        this.log?.error({ err: error, channel: channel.name }, "bus listener threw");
      }
    }
  }

  // Always live from the moment it returns, so `onResync` is never called.
  subscribe<T>(channel: Channel<T>, listener: (message: T) => void, _options?: SubscribeOptions): Unsubscribe {
    // An entry per subscription, so subscribing one function twice gives two independent listeners.
    const entry: Entry = { listener: listener as Listener };
    this.listeners.set(channel.name, [...(this.listeners.get(channel.name) ?? []), entry]);
    this.count++;
    return unsubscribeOnce(() => {
      this.count--;
      const rest = (this.listeners.get(channel.name) ?? []).filter((l) => l !== entry);
      if (rest.length === 0) this.listeners.delete(channel.name);
      else this.listeners.set(channel.name, rest);
    });
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  listenerCount(): number {
    return this.count;
  }

  publishedCount(): number {
    return this.published;
  }

  // Delivery is a function call: a publish cannot fail.
  failedPublishCount(): number {
    return 0;
  }

  health(): BusHealth {
    return { kind: "memory", status: "up" };
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.count = 0;
    return Promise.resolve();
  }
}
