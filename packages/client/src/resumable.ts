// A tRPC subscription as an async iterator that survives the subscription
// ending: after an error (other than a permanent one) or an unexpected
// completion it opens the subscription again, and the caller's `open` passes
// the cursor it tracked, so the server resumes where the last one stopped.
// It also bounds its own buffer: when the consumer falls `highWater` items
// behind, it unsubscribes and resubscribes from the cursor once the consumer
// has caught up, instead of buffering without limit.
import type { Unsubscribable } from "@trpc/server/observable";

export interface ResumableSink<T> {
  /** Queue a value for the consumer. */
  push(value: T): void;
  /** The stream is complete after the values pushed so far: no resubscribe. */
  finish(): void;
  error(error: unknown): void;
  /** The server ended the stream (without `finish`): resubscribe. */
  complete(): void;
}

export interface ResumableOptions<T> {
  /** Open the subscription from the caller's current cursor; values go to `sink`. */
  open(sink: ResumableSink<T>): Unsubscribable;
  /** Errors that end the iterator (thrown to the consumer) instead of a resubscribe. */
  isPermanent(error: unknown): boolean;
  /** Delay before resubscribe attempt N (0-based; reset by each value received). */
  retryDelayMs(attempt: number): number;
  /** Ends the iterator (normally, without an error). */
  signal: AbortSignal;
  /** Items buffered before the subscription is paused. Default 1000. */
  highWater?: number;
}

export async function* resumableSubscription<T>(options: ResumableOptions<T>): AsyncGenerator<T, void, undefined> {
  const { signal } = options;
  const highWater = options.highWater ?? 1_000;
  let queue: T[] = [];
  let head = 0;
  let wake: (() => void) | undefined;
  // Set by the subscription's callbacks (TypeScript cannot see closures assign them).
  let failure = null as { error: unknown } | null;
  let finished = false as boolean;
  let paused = false as boolean;
  let attempt = 0;
  let generation = 0;
  let subscription: Unsubscribable | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const stop = () => {
    generation++;
    subscription?.unsubscribe();
    subscription = null;
  };
  const retry = () => {
    stop();
    if (signal.aborted || finished) return;
    retryTimer = setTimeout(start, options.retryDelayMs(attempt++));
  };
  function start(): void {
    retryTimer = undefined;
    if (signal.aborted || finished) return;
    const mine = ++generation;
    const current = () => mine === generation;
    subscription = options.open({
      push(value) {
        if (!current()) return;
        attempt = 0;
        queue.push(value);
        if (queue.length - head >= highWater) {
          stop();
          paused = true;
        }
        notify();
      },
      finish() {
        if (!current()) return;
        finished = true;
        stop();
        notify();
      },
      error(error) {
        if (!current()) return;
        if (options.isPermanent(error)) {
          failure = { error };
          stop();
          notify();
        } else retry();
      },
      complete() {
        if (current()) retry();
      },
    });
  }

  signal.addEventListener("abort", notify);
  try {
    start();
    for (;;) {
      if (signal.aborted) return;
      if (head < queue.length) {
        const value = queue[head] as T;
        head++;
        if (head === queue.length) {
          queue = [];
          head = 0;
        }
        yield value;
        continue;
      }
      if (failure) throw failure.error;
      if (finished) return;
      if (paused) {
        paused = false;
        start();
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    signal.removeEventListener("abort", notify);
    if (retryTimer) clearTimeout(retryTimer);
    stop();
  }
}
