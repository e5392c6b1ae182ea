"use client";
// Loading a session and following it: the session (its event cursor), the
// newest page of messages into the timeline store, then session.events from
// that cursor (events the page already holds merge by id). `retry` starts
// over after a failed load or a stream that ended with an error.
import { useEffect, useState } from "react";
import type { RouterOutputs } from "@parley/client";
import { followAfterLoad } from "../../_components/follow-after-load";
import { parley } from "../../_components/parley";
import type { TimelineStore } from "./timeline-store";

export type Session = RouterOutputs["session"]["get"];

/** Messages per page, loaded first and when scrolled up. */
export const PAGE_SIZE = 50;

export function useSessionStream(id: string, store: TimelineStore) {
  const [session, setSession] = useState<Session | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [streamError, setStreamError] = useState<unknown>(null);
  const [ready, setReady] = useState(false);
  const [live, setLive] = useState(false);
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const { api } = parley();
    return followAfterLoad(async (current) => {
      const s = await api.session.get.query({ id });
      if (!current()) return null;
      setSession(s);
      const page = await api.message.list.query({ sessionId: id, beforeSeq: s.lastSeq + 1, limit: PAGE_SIZE });
      if (!current()) return null;
      store.addPage(page.items, (page.items[0]?.seq ?? 1) > 1);
      setReady(true);
      return api.session.events.subscribe(
        { sessionId: id, lastEventId: String(s.lastEventSeq) },
        {
          onStarted: () => {
            setLive(true);
            setStreamError(null);
          },
          onData: ({ data: event }) => {
            store.apply(event);
            if (event.type === "session.updated") setSession((prev) => (prev ? { ...prev, ...event.session } : prev));
          },
          onError: (error) => {
            setLive(false);
            setStreamError(error);
          },
          onConnectionStateChange: (state) => setLive(state.state === "pending"),
        },
      );
    }, setLoadError);
  }, [id, store, attempt]);
  useEffect(() => () => store.dispose(), [store]);

  const retry = () => {
    setLoadError(null);
    setAttempt((a) => a + 1);
  };
  return { session, loadError, streamError, ready, live, retry };
}
