// The Redis Bus: fan-out across Parley instances through Redis pub/sub.
// Same contract as the in-process bus (bus.ts); one publisher and one
// subscriber connection per instance, Redis channels refcounted by the local
// listeners, each message encoded once with superjson and decoded once.
// Gaps are announced on one extra Redis channel (`<prefix>bus:gaps`) that
// every instance's subscriber connection always listens on.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import superjson from "superjson";
import { z } from "zod";
import { unsubscribeOnce, type Bus, type BusHealth, type Channel, type SubscribeOptions, type Unsubscribe } from "./bus";

export interface RedisBusOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). */
  url: string;
  log: Logger;
  /** Prefix of every Redis channel, so several deployments can share one Redis. */
  prefix?: string;
  /** How long `connect` waits for the first connection before giving up. */
  connectTimeoutMs?: number;
  /** Names the two connections `<name>-pub` and `<name>-sub` (CLIENT LIST); default `parley-<random tag>`. */
  connectionName?: string;
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

/**
 * The longest wait between two reconnection attempts: a connection is back
 * at most this long after Redis is reachable again (then gaps are announced).
 */
export const REDIS_RETRY_MAX_MS = 500;

/** Reconnect quickly at first, then every REDIS_RETRY_MAX_MS: a bus outage delays live delivery. */
const retryStrategy = (attempt: number) => Math.min(attempt * 100, REDIS_RETRY_MAX_MS);

/** Channels whose lost publishes are remembered one by one; past it, the announcement names every channel. */
const MAX_REMEMBERED_GAPS = 1_000;

/** What goes on the gaps channel: the Redis channels that lost a publish, or all of them. */
const gapNotice = z.union([z.object({ channels: z.array(z.string()) }), z.object({ all: z.literal(true) })]);
type GapNotice = z.infer<typeof gapNotice>;

/**
 * Delivery: at most once (Redis pub/sub keeps nothing). Ordering: one
 * publisher connection per instance, so one instance's messages on a channel
 * arrive in publish order everywhere. While Redis is unreachable, `publish`
 * drops (and logs) and `health()` is down; after the subscriber connection
 * comes back, every channel is subscribed again and every listener's
 * `onResync` runs, so persisted streams re-read the gap from the database.
 * A publish that fails (the publish connection down, killed, or Redis
 * restarting) is remembered by channel; when the publish connection is ready
 * again it announces those channels on the gaps channel, and every instance
 * runs `onResync` for their listeners, so the order in which the two
 * connections come back does not matter.
 */
export class RedisBus implements Bus {
  private readonly channels = new Map<string, ChannelState>();
  private count = 0;
  /** The last SUBSCRIBE/UNSUBSCRIBE sent: replies come in order, so it settles after all earlier ones. */
  private lastCommand: Promise<unknown> = Promise.resolve();
  /** True between a completed (re)subscription and the next loss of the subscriber connection. */
  private subscriberLive = false;
  private closed = false;
  private published = 0;
  private failed = 0;
  /** Redis channels that lost a publish since the last announcement (`lostAll`: too many to name). */
  private lost = new Set<string>();
  private lostAll = false;
  /** The Redis channel gap notices travel on. */
  private readonly gapsChannel: string;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
    /** The two connections' names, as CLIENT LIST shows them. */
    readonly connectionNames: { publish: string; subscribe: string },
  ) {
    this.gapsChannel = `${prefix}bus:gaps`;
    subscriber.on("messageBuffer", (name: Buffer, payload: Buffer) => this.deliver(name.toString(), payload));
    subscriber.on("ready", () => this.resubscribe());
    publisher.on("ready", () => {
      log.info({ connection: "publisher" }, "redis connected");
      this.announceGaps();
    });
    const lost = (which: string) => () => {
      if (which === "subscriber") this.subscriberLive = false;
      if (!this.closed) log.warn({ connection: which }, "redis connection lost; reconnecting");
    };
    subscriber.on("close", lost("subscriber"));
    publisher.on("close", lost("publisher"));
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
    const name = options.connectionName ?? `parley-${randomBytes(3).toString("hex")}`;
    const names = { publish: `${name}-pub`, subscribe: `${name}-sub` };
    const publisher = new Redis(options.url, { ...common, connectionName: names.publish });
    const subscriber = new Redis(options.url, { ...common, connectionName: names.subscribe });
    const bus = new RedisBus(publisher, subscriber, options.prefix ?? "parley:", options.log, names);
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    try {
      await Promise.all([waitReady(publisher, timeoutMs), waitReady(subscriber, timeoutMs)]);
      // The subscriber's first subscription (the gaps channel): live once it resolves.
      await bus.ready();
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
    const name = this.prefix + channel.name;
    this.publisher.publish(name, payload).catch((err: unknown) => this.publishFailed(name, err));
  }

  /** A publish Redis did not take (or may not have): remember its channel for the announcement. */
  private publishFailed(name: string, err: unknown): void {
    if (this.closed) return;
    this.failed++;
    if (!this.lostAll && this.lost.size === 0) {
      // One line per outage, not one per message.
      this.log.warn({ err: (err as Error).message, channel: name }, "redis publish failed; its channels' gaps are announced once Redis is back");
    }
    if (!this.lostAll) this.lost.add(name);
    if (this.lost.size > MAX_REMEMBERED_GAPS) {
      this.lostAll = true;
      this.lost.clear();
    }
    // The connection may already be back (the failure was of a command in flight when it dropped).
    if (this.publisher.status === "ready") queueMicrotask(() => this.announceGaps());
  }

  /** On the publish connection's (re)connection: tell every instance which channels lost a publish. */
  private announceGaps(): void {
    if (this.closed || (!this.lostAll && this.lost.size === 0) || this.publisher.status !== "ready") return;
    const notice: GapNotice = this.lostAll ? { all: true } : { channels: [...this.lost] };
    this.lost = new Set();
    this.lostAll = false;
    this.publisher.publish(this.gapsChannel, JSON.stringify(notice)).then(
      () => this.log.info({ channels: "all" in notice ? "all" : notice.channels.length }, "redis publish recovered; gaps announced"),
      (err: unknown) => {
        // Lost again: remembered for the next reconnection.
        if ("all" in notice) this.lostAll = true;
        else for (const name of notice.channels) this.publishFailed(name, err);
      },
    );
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

  failedPublishCount(): number {
    return this.failed;
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
    const done = this.subscriber.subscribe(this.gapsChannel, ...names);
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

  /** Another instance (or this one) lost publishes: the named channels' listeners re-read what they hold. */
  private gapsAnnounced(payload: Buffer) {
    let notice: GapNotice;
    try {
      notice = gapNotice.parse(JSON.parse(payload.toString("utf8")));
    } catch (err) {
      this.log.error({ err }, "undecodable gap notice dropped");
      return;
    }
    const states = "all" in notice ? [...this.channels.values()] : notice.channels.flatMap((name) => this.channels.get(name) ?? []);
    for (const state of states) if (state.live) this.resyncListeners(state);
  }

  private deliver(name: string, payload: Buffer) {
    if (name === this.gapsChannel) {
      this.gapsAnnounced(payload);
      return;
    }
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
