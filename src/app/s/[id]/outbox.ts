// Messages written while the server cannot be reached. They are shown as
// queued and sent after the WebSocket reconnects, one at a time and in order;
// each leaves the queue only when the server has acknowledged it. (The server
// has no idempotency key yet: if an acknowledgement is lost after the write
// committed, a retry can post twice. See the issue-5 report.)

export type Visibility = "public" | "private" | "agent_only";

export interface OutboxItem {
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

  enqueue(item: Omit<OutboxItem, "key" | "state" | "queuedAt">) {
    this.set([...this.items, { ...item, key: crypto.randomUUID(), state: "queued", queuedAt: Date.now() }]);
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
