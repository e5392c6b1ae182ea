// Messages written while the server cannot be reached. They are shown as
// queued and sent after the WebSocket reconnects, one at a time and in order;
// each leaves the queue only when the server has acknowledged it. Every item
// carries one idempotency key (`clientKey`), sent on each attempt: when an
// acknowledgement is lost after the write committed, the retry returns the
// stored message instead of posting it twice, so each is sent exactly once.

import type { MessagePostInput } from "../../../shared/schemas";

/** Who may see a message (the data model's enum, as message.post takes it). */
export type Visibility = NonNullable<MessagePostInput["visibility"]>;

/** A fresh idempotency key (about 25 URL-safe characters; getRandomValues works outside secure contexts too, randomUUID does not). */
export function newClientKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  let key = "";
  for (const byte of bytes) key += alphabet[byte & 63];
  // 16 × 6 bits = 96 bits of randomness, plus a time prefix so keys also sort by creation.
  return `${Date.now().toString(36)}-${key}`;
}

export interface OutboxItem {
  /** The message's idempotency key (`clientKey`), the same on every attempt; also its React key. */
  key: string;
  sessionId: string;
  content: string;
  /** Send with chat.send to this agent; null posts with message.post. */
  agentId: string | null;
  visibility: Visibility;
  state: "queued" | "sending";
  queuedAt: number;
}

type Sender = (item: OutboxItem) => Promise<void>;

export class Outbox {
  private items: OutboxItem[] = [];
  private listeners = new Set<() => void>();
  private flushing = false;

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };
  getSnapshot = () => this.items;

  private set(items: OutboxItem[]) {
    this.items = items;
    for (const l of this.listeners) l();
  }

  get size() {
    return this.items.length;
  }

  /** Queue a message; pass the key of an attempt that already failed so a retry cannot post it twice. */
  enqueue(item: Omit<OutboxItem, "key" | "state" | "queuedAt">, key: string = newClientKey()) {
    this.set([...this.items, { ...item, key, state: "queued", queuedAt: Date.now() }]);
  }

  remove(key: string) {
    this.set(this.items.filter((i) => i.key !== key));
  }

  /**
   * Send queued items in order. `send` throws `retryLater` when the server is
   * unreachable (the item stays first in the queue and flushing stops); any
   * other error drops the item and is reported through `onFailed`.
   */
  async flush(send: Sender, retryLater: (error: unknown) => boolean, onFailed: (item: OutboxItem, error: unknown) => void) {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (;;) {
        const item = this.items[0];
        if (!item) return;
        this.set(this.items.map((i) => (i.key === item.key ? { ...i, state: "sending" } : i)));
        try {
          await send(item);
          this.remove(item.key);
        } catch (error) {
          if (retryLater(error)) {
            this.set(this.items.map((i) => (i.key === item.key ? { ...i, state: "queued" } : i)));
            return;
          }
          this.remove(item.key);
          onFailed(item, error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

const outboxes = new Map<string, Outbox>();

/** One outbox per session for the life of the tab (it survives navigating away and back). */
export function outboxFor(sessionId: string): Outbox {
  let outbox = outboxes.get(sessionId);
  if (!outbox) outboxes.set(sessionId, (outbox = new Outbox()));
  return outbox;
}
