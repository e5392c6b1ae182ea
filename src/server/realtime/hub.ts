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
// - `observed` is how a subscriber tells the hub the seqs it read from the
//   log itself (its start, its catch-ups).
//
// Positions (the safety net under the bus's own gap announcements, bus.ts):
// the hub keeps, per channel, the highest seq its subscribers have been
// offered (delivered by the bus, or read from the log). Every
// `positionCheckMs` it reads the last seq of every session it streams in one
// batched query; a channel whose database seq is still ahead of what the hub
// holds one check later (so not a message still on its way) lost a message on
// the bus, and its subscribers resync. A committed event therefore reaches
// caught-up subscribers within two checks, whatever the bus did with it.
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

/** Where the hub reads the sessions' positions: their last event seqs (SessionLog). */
export interface SessionPositions {
  /** The last event seq of each of `sessionIds` that exists, in as few queries as it can. */
  lastSeqs(sessionIds: readonly string[]): Promise<Map<string, number>>;
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
  /** The highest seq its subscribers have been offered: delivered by the bus, or read from the log. */
  position: number;
  /** The database's seq seen ahead of `position` at the last check; 0 when it was not ahead. */
  behindAt: number;
}

export class Hub {
  private readonly channels = new Map<string, HubChannel>();
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  /** Channels resynchronised because the database was ahead of the bus (metrics, tests). */
  positionResyncs = 0;

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly positions: SessionPositions,
    /** How often positions are checked (SESSION_POSITION_CHECK_MS); 0: never (a bus that cannot lose messages). */
    private readonly positionCheckMs: number,
  ) {}

  /** Start the position checks. */
  start(): void {
    if (this.positionCheckMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.checkPositions(), this.positionCheckMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A subscriber of `sessionId` read the log up to `seq` (its start, a catch-up). */
  observed(sessionId: string, seq: number): void {
    const channel = this.channels.get(sessionId);
    if (channel && seq > channel.position) channel.position = seq;
  }

  /** Local subscribers, over all sessions (tests and health wait on it). */
  get subscriberCount(): number {
    return this.count;
  }

  /** Start delivering `sessionId`'s channel to `subscriber`; the returned function stops it (idempotent). */
  subscribe(sessionId: string, subscriber: HubSubscriber): Unsubscribe {
    let entry = this.channels.get(sessionId);
    if (!entry) {
      const created: HubChannel = { subscribers: [], unsubscribe: () => undefined, position: 0, behindAt: 0 };
      created.unsubscribe = this.bus.subscribe(sessionChannel(sessionId), (message) => this.deliver(created, message), {
        onResync: () => this.resync(created),
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

  /** Every subscriber of `channel` re-reads the log after what it holds. */
  private resync(channel: HubChannel): void {
    for (const subscriber of channel.subscribers) {
      try {
        subscriber.resync();
      } catch (error) {
        this.log.error({ err: error }, "session subscriber threw on a resync");
      }
    }
  }

  /** One batched read of every streamed session's last seq; channels behind for two checks resync (see the top of this file). */
  private async checkPositions(): Promise<void> {
    if (this.checking || this.channels.size === 0) return;
    this.checking = true;
    try {
      const tops = await this.positions.lastSeqs([...this.channels.keys()]);
      for (const [sessionId, top] of tops) {
        const channel = this.channels.get(sessionId);
        if (!channel) continue;
        if (top <= channel.position) {
          channel.behindAt = 0;
        } else if (channel.behindAt !== 0 && channel.position < channel.behindAt) {
          // Still short of what the database had one check ago: not in flight, lost.
          channel.behindAt = 0;
          this.positionResyncs++;
          this.log.info({ sessionId, position: channel.position, lastSeq: top }, "the bus lost a session event; subscribers re-read it");
          this.resync(channel);
        } else {
          channel.behindAt = top;
        }
      }
    } catch (error) {
      this.log.warn({ err: error }, "session position check failed; retried at the next one");
    } finally {
      this.checking = false;
    }
  }

  private deliver(channel: HubChannel, message: SessionChannelMessage): void {
    if (message.seq !== null && message.seq > channel.position) channel.position = message.seq;
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
