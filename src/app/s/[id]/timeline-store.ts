// One session's messages in the browser: pages from `message.list` and live
// events from `session.events`, merged by message id so nothing shows twice,
// plus the text of answers still streaming (chat.snapshot / chat.delta).
// React reads it through useSyncExternalStore; changes are coalesced into at
// most one new snapshot per animation frame, however fast deltas arrive.
import type { RouterOutputs, SessionEvent } from "@parley/client";

export type Message = RouterOutputs["message"]["list"]["items"][number];

export interface TimelineSnapshot {
  /** Every known message, oldest first (by seq). */
  messages: readonly Message[];
  /** Text so far of answers that are streaming, by message id. */
  live: ReadonlyMap<string, string>;
  /** Older messages may exist before messages[0]. */
  hasOlder: boolean;
  /** Deltas that did not continue the text we held (a gap); the final message repairs it. */
  gaps: number;
  /** Bumped on every stream.reset. */
  resets: number;
}

export class TimelineStore {
  private byId = new Map<string, Message>();
  /** Deleted messages: a page fetched before the delete must not bring them back. */
  private deleted = new Set<string>();
  private live = new Map<string, string>();
  private hasOlder = false;
  private gaps = 0;
  private resets = 0;
  private sortedDirty = true;
  private sorted: Message[] = [];
  private snapshot: TimelineSnapshot;
  private frame: number | null = null;
  private listeners = new Set<() => void>();

  constructor() {
    this.snapshot = this.build();
  }

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  getSnapshot = () => this.snapshot;

  /** A page from message.list (oldest first). `hasOlder` is about the page start when prepending. */
  addPage(items: readonly Message[], hasOlder: boolean | null) {
    for (const m of items) this.upsert(m);
    if (hasOlder !== null) this.hasOlder = hasOlder;
    this.changed();
  }

  oldestSeq(): number | null {
    let min: number | null = null;
    for (const m of this.byId.values()) if (min === null || m.seq < min) min = m.seq;
    return min;
  }

  /** Apply one session event, in stream order. */
  apply(event: SessionEvent) {
    switch (event.type) {
      case "message.created":
      case "message.updated":
        this.upsert(event.message);
        break;
      case "message.deleted":
        this.deleted.add(event.message.id);
        this.byId.delete(event.message.id);
        this.live.delete(event.message.id);
        this.sortedDirty = true;
        break;
      case "chat.snapshot":
        if (this.isStreaming(event.messageId)) this.live.set(event.messageId, event.text);
        break;
      case "chat.delta": {
        if (!this.isStreaming(event.messageId)) break;
        const held = this.live.get(event.messageId) ?? "";
        const end = event.offset + event.text.length;
        if (event.offset === held.length) this.live.set(event.messageId, held + event.text);
        else if (event.offset < held.length && end > held.length) this.live.set(event.messageId, held + event.text.slice(held.length - event.offset));
        else if (event.offset > held.length) this.gaps++;
        break;
      }
      case "stream.reset":
        this.byId.clear();
        this.deleted.clear();
        this.live.clear();
        this.resets++;
        this.sortedDirty = true;
        break;
      case "session.updated":
        return;
    }
    this.changed();
  }

  private isStreaming(messageId: string) {
    const m = this.byId.get(messageId);
    // The snapshot can arrive before the page that holds its message: accept it.
    return !m || m.status === "streaming";
  }

  private upsert(message: Message) {
    if (this.deleted.has(message.id)) return;
    const prev = this.byId.get(message.id);
    // A page fetched later can hold a newer version than a replayed event: keep the newest.
    if (prev && new Date(prev.updatedAt).getTime() > new Date(message.updatedAt).getTime()) return;
    this.byId.set(message.id, message);
    if (message.status !== "streaming") this.live.delete(message.id);
    else if (!this.live.has(message.id) && message.content) this.live.set(message.id, message.content);
    if (!prev || prev.seq !== message.seq) this.sortedDirty = true;
    else this.sorted = this.sorted.map((m) => (m.id === message.id ? message : m));
  }

  private build(): TimelineSnapshot {
    if (this.sortedDirty) {
      this.sorted = [...this.byId.values()].sort((a, b) => a.seq - b.seq);
      this.sortedDirty = false;
    }
    return { messages: this.sorted, live: new Map(this.live), hasOlder: this.hasOlder, gaps: this.gaps, resets: this.resets };
  }

  /** Coalesce: one snapshot and one notification per animation frame. */
  private changed() {
    if (this.frame !== null) return;
    const flush = () => {
      this.frame = null;
      this.snapshot = this.build();
      for (const l of this.listeners) l();
    };
    this.frame = typeof requestAnimationFrame === "function" ? requestAnimationFrame(flush) : (setTimeout(flush, 16) as unknown as number);
  }

  dispose() {
    if (this.frame !== null && typeof cancelAnimationFrame === "function") cancelAnimationFrame(this.frame);
    this.listeners.clear();
  }
}
