// A single-consumer queue with a hard bound. Past the bound it drops what it
// holds and reports one `overflow`, so the consumer re-reads from the source
// of truth instead of the producer growing memory without limit.

export type QueueItem<T> = { kind: "value"; value: T } | { kind: "overflow" } | { kind: "closed" };

export class BoundedQueue<T> {
  private items: T[] = [];
  private head = 0;
  private overflowed = false;
  private closed = false;
  private waiter: ((item: QueueItem<T>) => void) | null = null;

  /**
   * `merge(last, next)` may fold `next` into the last queued item (returning
   * the merged item) instead of queueing it, so a slow consumer gets fewer,
   * larger items (chat deltas); null means "queue it separately".
   */
  constructor(
    private readonly limit: number,
    private readonly merge?: (last: T, next: T) => T | null,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Nothing queued, no overflow to report, not closed: `take` would wait. */
  get idle(): boolean {
    return this.size === 0 && !this.overflowed && !this.closed;
  }

  push(value: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = null;
      resolve({ kind: "value", value });
      return;
    }
    if (this.overflowed) return;
    if (this.merge && this.size > 0) {
      const merged = this.merge(this.items[this.items.length - 1] as T, value);
      if (merged !== null) {
        this.items[this.items.length - 1] = merged;
        return;
      }
    }
    if (this.size >= this.limit) {
      this.items = [];
      this.head = 0;
      this.overflowed = true;
      return;
    }
    this.items.push(value);
  }

  /** The next item; resolves `closed` when the queue is closed or `signal` aborts. */
  take(signal?: AbortSignal): Promise<QueueItem<T>> {
    if (this.overflowed) {
      this.overflowed = false;
      return Promise.resolve({ kind: "overflow" });
    }
    if (this.size > 0) {
      const value = this.items[this.head++] as T;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ kind: "value", value });
    }
    if (this.closed || signal?.aborted) return Promise.resolve({ kind: "closed" });
    return new Promise((resolve) => {
      if (!signal) {
        this.waiter = resolve;
        return;
      }
      const onAbort = () => {
        this.waiter = null;
        resolve({ kind: "closed" });
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiter = (item) => {
        signal.removeEventListener("abort", onAbort);
        resolve(item);
      };
    });
  }

  /**
   * Drop what is queued and make the consumer's next `take` report
   * `overflow`, as if the bound had been passed: the producer says it may have
   * lost items, so the consumer re-reads from the source of truth.
   */
  invalidate(): void {
    if (this.closed) return;
    this.items = [];
    this.head = 0;
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = null;
      resolve({ kind: "overflow" });
      return;
    }
    this.overflowed = true;
  }

  close(): void {
    this.closed = true;
    this.items = [];
    this.head = 0;
    const resolve = this.waiter;
    this.waiter = null;
    resolve?.({ kind: "closed" });
  }
}
