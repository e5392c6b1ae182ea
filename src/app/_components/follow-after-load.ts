// The body of an effect that loads something, then follows its live changes
// from what it loaded (a session's newest page, then session.events; the
// memory listing, then memory.events). `start` loads and opens the
// subscription, asking `current()` after each await whether the effect still
// runs; the cleanup returned stops the subscription and drops a late result or
// failure.

export interface Unsubscribable {
  unsubscribe(): void;
}

export function followAfterLoad(start: (current: () => boolean) => Promise<Unsubscribable | null>, onError: (error: unknown) => void): () => void {
  let cancelled = false;
  let subscription: Unsubscribable | null = null;
  start(() => !cancelled).then(
    (opened) => {
      if (cancelled) opened?.unsubscribe();
      else subscription = opened;
    },
    (error: unknown) => {
      if (!cancelled) onError(error);
    },
  );
  return () => {
    cancelled = true;
    subscription?.unsubscribe();
  };
}
