// The in-process Bus: the embedded default. Delivery is synchronous, in
// publish order, to the listeners registered at the time of publishing.
import type { Logger } from "pino";
import type { Bus, BusHealth, Channel, SubscribeOptions, Unsubscribe } from "./bus";

type Listener = (message: unknown) => void;

export class MemoryBus implements Bus {
  private readonly listeners = new Map<string, Set<Listener>>();
  private count = 0;

  constructor(private readonly log?: Logger) {}

  publish<T>(channel: Channel<T>, message: T): void {
    const set = this.listeners.get(channel.name);
    if (!set) return;
    // Copy so a listener that unsubscribes during delivery does not skip another.
    for (const listener of [...set]) {
      try {
        listener(message);
      } catch (error) {
        this.log?.error({ err: error, channel: channel.name }, "bus listener threw");
      }
    }
  }

  // Always live from the moment it returns, so `onResync` is never called.
  subscribe<T>(channel: Channel<T>, listener: (message: T) => void, _options?: SubscribeOptions): Unsubscribe {
    let set = this.listeners.get(channel.name);
    if (!set) {
      set = new Set();
      this.listeners.set(channel.name, set);
    }
    const entry = listener as Listener;
    set.add(entry);
    this.count++;
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      this.count--;
      const current = this.listeners.get(channel.name);
      current?.delete(entry);
      if (current?.size === 0) this.listeners.delete(channel.name);
    };
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  listenerCount(): number {
    return this.count;
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
