// The hub: for each session this instance streams, its local subscribers.
// It listens on the bus once per session channel (while the channel has
// subscribers) and hands every message to each subscriber as one shared
// Delivery, whose frames are built once per event and subscription id,
// whichever subscribers ask for them. The hub knows nothing of sockets; the
// subscribers (session-stream.ts) know nothing of the bus.
//
// Contract for a HubSubscriber:
// - `receive` is called synchronously inside the bus's delivery, in the
//   channel's order; it must not block (write a frame or queue).
// - `resync` is called when the bus may have lost messages of the channel
//   (bus.ts onResync): re-read from the session log after the cursor.
// - A subscriber added while a message is being delivered does not get it;
//   one removed during a delivery may still get that message.
import type { Logger } from "pino";
import { unsubscribeOnce, type Bus, type Unsubscribe } from "../bus/bus";
import type { SessionEvent } from "../../shared/events";
import { sessionChannel, type SessionChannelMessage } from "../services/session-log";
import { EventFrames, type Lane } from "./frames";
import { HIDDEN } from "./subscription";

export interface HubSubscriber {
  receive(delivery: Delivery): void;
  resync(): void;
}

/** One message of a session channel as this instance received it, shared by its subscribers. */
export class Delivery {
  private shown: EventFrames | null = null;
  private hidden: EventFrames | null = null;
  private seqText: string | null = null;

  constructor(
    readonly message: SessionChannelMessage,
    /** performance.now() when the bus delivered it here: the start of its fan-out latency. */
    readonly receivedAt: number,
  ) {}

  /** `String(seq)` of a persisted message, made once for every subscriber. */
  get seqId(): string {
    return (this.seqText ??= String(this.message.seq));
  }

  /** The event as sent: the message's own, or `stream.hidden` in its place. */
  event(hidden: boolean): SessionEvent {
    return hidden ? HIDDEN : this.message.event;
  }

  /** The frame of this message (or of `stream.hidden` in its place) tracked with `id`, on `lane`. */
  frame(lane: Lane, id: string, hidden: boolean): Buffer {
    const frames = hidden ? (this.hidden ??= new EventFrames(HIDDEN)) : (this.shown ??= new EventFrames(this.message.event));
    return frames.frame(lane, id);
  }
}

/** The local subscribers of one channel, copy-on-write: a delivery iterates a snapshot without copying it. */
interface HubChannel {
  subscribers: readonly HubSubscriber[];
  unsubscribe: Unsubscribe;
}

export class Hub {
  private readonly channels = new Map<string, HubChannel>();
  private count = 0;

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
  ) {}

  /** Local subscribers, over all sessions (tests and health wait on it). */
  get subscriberCount(): number {
    return this.count;
  }

  /** Start delivering `sessionId`'s channel to `subscriber`; the returned function stops it (idempotent). */
  subscribe(sessionId: string, subscriber: HubSubscriber): Unsubscribe {
    let entry = this.channels.get(sessionId);
    if (!entry) {
      const created: HubChannel = { subscribers: [], unsubscribe: () => undefined };
      created.unsubscribe = this.bus.subscribe(sessionChannel(sessionId), (message) => this.deliver(created, message), {
        onResync: () => {
          for (const subscriber of created.subscribers) subscriber.resync();
        },
      });
      this.channels.set(sessionId, created);
      entry = created;
    }
    const channel = entry;
    channel.subscribers = [...channel.subscribers, subscriber];
    this.count++;
    return unsubscribeOnce(() => {
      this.count--;
      channel.subscribers = channel.subscribers.filter((s) => s !== subscriber);
      if (channel.subscribers.length > 0) return;
      channel.unsubscribe();
      if (this.channels.get(sessionId) === channel) this.channels.delete(sessionId);
    });
  }

  private deliver(channel: HubChannel, message: SessionChannelMessage): void {
    const delivery = new Delivery(message, performance.now());
    for (const subscriber of channel.subscribers) {
      // A subscriber that throws is logged and skipped; the others still get the message.
      try {
        subscriber.receive(delivery);
      } catch (error) {
        this.log.error({ err: error }, "session subscriber threw on a delivery");
      }
    }
  }
}
