// The Redis Bus: fan-out across Parley instances through Redis pub/sub.
// Same contract as the in-process bus (bus.ts); one publisher and one
// subscriber connection per instance, Redis channels refcounted by the local
// listeners, each message encoded once with superjson and decoded once.
import { Redis } from "ioredis";
import type { Logger } from "pino";
import superjson from "superjson";
import { unsubscribeOnce, type Bus, type BusHealth, type Channel, type SubscribeOptions, type Unsubscribe } from "./bus";

export interface RedisBusOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string;
  log: Logger;
  /** Prefix of every Redis channel, so several deployments can share one Redis. */
  prefix?: string;
  /** How long `connect` waits for the first connection before giving up. */
  connectTimeoutMs?: number;
}

interface Entry {
  listener: (message: unknown) => void;
  onResync: (() => void) | undefined;
}

/** Local state of one Redis channel: its listeners and whether Redis confirmed our SUBSCRIBE. */
interface ChannelState {
  entries: Set<Entry>;
  live: boolean;
}

/** Reconnect quickly at first, then every second: a bus outage delays live delivery. */
const retryStrategy = (attempt: number) => Math.min(attempt * 100, 1_000);

/**
 * Delivery: at most once (Redis pub/sub keeps nothing). Ordering: one
 * publisher connection per instance, so one instance's messages on a channel
 * arrive in publish order everywhere. While Redis is unreachable, `publish`
 * drops (and logs) and `health()` is down; after the subscriber connection
 * comes back, every channel is subscribed again and every listener's
 * `onResync` runs, so persisted streams re-read the gap from the database.
 */
export class RedisBus implements Bus {
  private readonly channels = new Map<string, ChannelState>();
  private count = 0;
  /** The last SUBSCRIBE/UNSUBSCRIBE sent: replies come in order, so it settles after all earlier ones. */
  private lastCommand: Promise<unknown> = Promise.resolve();
  /** True between a completed (re)subscription and the next loss of the subscriber connection. */
  private subscriberLive = false;
  private closed = false;
  private droppedSinceLog = 0;
  private published = 0;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {
    subscriber.on("messageBuffer", (name: Buffer, payload: Buffer) => this.deliver(name.toString(), payload));
    subscriber.on("ready", () => this.resubscribe());
    const lost = (which: string) => () => {
      if (which === "subscriber") this.subscriberLive = false;
      if (!this.closed) log.warn({ connection: which }, "redis connection lost; reconnecting");
    };
    subscriber.on("close", lost("subscriber"));
    publisher.on("close", lost("publisher"));
    publisher.on("ready", () => log.info({ connection: "publisher" }, "redis connected"));
    // ioredis emits connection errors as events; without a listener they would crash the process.
    const onError = (which: string) => (err: Error) => log.debug({ err: err.message, connection: which }, "redis error");
    subscriber.on("error", onError("subscriber"));
    publisher.on("error", onError("publisher"));
  }

  /** Connect both connections; rejects when Redis cannot be reached within `connectTimeoutMs`. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const common = {
      lazyConnect: true,
      retryStrategy,
      // Fail fast instead of queueing without bound while Redis is down:
      // publish is fire-and-forget and subscriptions are redone on "ready".
      enableOfflineQueue: false,
      autoResubscribe: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
    };
    const publisher = new Redis(options.url, { ...common, connectionName: "parley-pub" });
    const subscriber = new Redis(options.url, { ...common, connectionName: "parley-sub" });
    const bus = new RedisBus(publisher, subscriber, options.prefix ?? "parley:", options.log);
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    try {
      await Promise.all([waitReady(publisher, timeoutMs), waitReady(subscriber, timeoutMs)]);
    } catch (error) {
      await bus.close();
      throw new Error(`cannot reach Redis at ${redactUrl(options.url)} (REDIS_URL): ${(error as Error).message}`, { cause: error });
    }
    return bus;
  }

  publish<T>(channel: Channel<T>, message: T): void {
    this.published++;
    if (this.closed) return;
    let payload: string;
    try {
      payload = superjson.stringify(message);
    } catch (err) {
      this.log.error({ err, channel: channel.name }, "bus message cannot be serialised; dropped");
      return;
    }
    this.publisher.publish(this.prefix + channel.name, payload).catch((err: unknown) => {
      // One line per outage, not one per message: subscribers resync when Redis is back.
      if (this.droppedSinceLog++ === 0) {
        this.log.warn({ err: (err as Error).message, channel: channel.name }, "redis publish failed; messages dropped until it is back");
      }
    });
    if (this.droppedSinceLog > 0 && this.publisher.status === "ready") {
      this.log.info({ dropped: this.droppedSinceLog }, "redis publish recovered");
      this.droppedSinceLog = 0;
    }
  }

  subscribe<T>(channel: Channel<T>, listener: (message: T) => void, options?: SubscribeOptions): Unsubscribe {
    const name = this.prefix + channel.name;
    const entry: Entry = { listener: listener as (message: unknown) => void, onResync: options?.onResync };
    let state = this.channels.get(name);
    if (!state) {
      state = { entries: new Set(), live: false };
      this.channels.set(name, state);
      this.sendSubscribe(name, state);
    }
    state.entries.add(entry);
    this.count++;
    return unsubscribeOnce(() => {
      this.count--;
      const current = this.channels.get(name);
      if (!current) return;
      current.entries.delete(entry);
      if (current.entries.size > 0) return;
      this.channels.delete(name);
      // Sent whenever connected (even mid-resubscription): replies come in order.
      if (this.subscriber.status === "ready") void this.track(this.subscriber.unsubscribe(name));
    });
  }

  ready(): Promise<void> {
    return this.lastCommand.then(
      () => undefined,
      () => undefined,
    );
  }

  listenerCount(): number {
    return this.count;
  }

  publishedCount(): number {
    return this.published;
  }

  health(): BusHealth {
    const up = !this.closed && this.subscriberLive && this.publisher.status === "ready";
    return { kind: "redis", status: up ? "up" : "down" };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscriberLive = false;
    this.channels.clear();
    this.count = 0;
    await Promise.all([quit(this.publisher), quit(this.subscriber)]);
  }

  private track(command: Promise<unknown>): Promise<unknown> {
    const settled = command.catch((err: unknown) => {
      this.log.debug({ err: (err as Error).message }, "redis subscription command failed; redone on reconnect");
    });
    this.lastCommand = settled;
    return settled;
  }

  /** SUBSCRIBE a new channel; once Redis confirms it, its listeners resync (they may have missed what came before). */
  private sendSubscribe(name: string, state: ChannelState) {
    if (!this.subscriberLive) return; // "ready" will subscribe it
    void this.track(
      this.subscriber.subscribe(name).then(() => {
        if (this.channels.get(name) !== state || state.live) return;
        state.live = true;
        this.resyncListeners(state);
      }),
    );
  }

  /** On every (re)connection of the subscriber: subscribe all channels again, then resync all listeners. */
  private resubscribe() {
    if (this.closed) return;
    const names = [...this.channels.keys()];
    for (const state of this.channels.values()) state.live = false;
    const done = names.length > 0 ? this.subscriber.subscribe(...names) : Promise.resolve();
    void this.track(
      done.then(() => {
        if (this.closed || this.subscriber.status !== "ready") return;
        this.subscriberLive = true;
        this.log.info({ channels: names.length }, "redis bus subscribed");
        for (const name of names) {
          const state = this.channels.get(name);
          if (!state) continue;
          state.live = true;
          this.resyncListeners(state);
        }
        // Channels added while we were resubscribing were not in `names`.
        for (const [name, state] of this.channels) if (!state.live) this.sendSubscribe(name, state);
      }),
    );
  }

  private resyncListeners(state: ChannelState) {
    for (const entry of [...state.entries]) {
      try {
        entry.onResync?.();
      } catch (err) {
        this.log.error({ err }, "bus resync listener threw");
      }
    }
  }

  private deliver(name: string, payload: Buffer) {
    const state = this.channels.get(name);
    if (!state) return;
    let message: unknown;
    try {
      message = superjson.parse(payload.toString("utf8"));
    } catch (err) {
      this.log.error({ err, channel: name }, "undecodable bus message dropped");
      return;
    }
    // Copy so a listener that unsubscribes during delivery does not skip another.
    for (const entry of [...state.entries]) {
      try {
        entry.listener(message);
      } catch (err) {
        this.log.error({ err, channel: name }, "bus listener threw");
      }
    }
  }
}

function waitReady(client: Redis, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off("ready", onReady);
      reject(new Error(`no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once("ready", onReady);
    client.connect().catch(() => undefined); // retried by retryStrategy until the timeout
  });
}

async function quit(client: Redis) {
  if (client.status === "end") return;
  try {
    if (client.status === "ready") await client.quit();
    else client.disconnect();
  } catch {
    client.disconnect();
  }
}

/** The URL without its password, for error messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
