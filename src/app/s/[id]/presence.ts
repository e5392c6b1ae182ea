"use client";
// Who is in the session and who is typing (session.presence over the tab's
// WebSocket; it restarts with a fresh `sync` after a reconnect).
import { useEffect, useState } from "react";
import type { RouterOutputs } from "@parley/client";
import { parley } from "../../_components/parley";

type PresenceUpdate = RouterOutputs["session"]["presence"] extends AsyncIterable<infer U> ? U : never;
export type PresenceMember = PresenceUpdate["members"][number];
export type TypingMark = PresenceUpdate["typing"][number];

export function usePresence(sessionId: string) {
  const [room, setRoom] = useState<{ members: PresenceMember[]; typing: TypingMark[] }>({ members: [], typing: [] });
  useEffect(() => {
    const sub = parley().api.session.presence.subscribe(
      { sessionId },
      { onData: (update) => setRoom({ members: update.members, typing: update.typing }), onError: () => setRoom({ members: [], typing: [] }) },
    );
    return () => sub.unsubscribe();
  }, [sessionId]);
  // Typing marks expire on their own; drop them locally at `until` too.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (room.typing.length === 0) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [room.typing.length]);
  const typing = room.typing.filter((t) => new Date(t.until).getTime() > now);
  // One avatar per principal (a person may have two tabs open).
  const members = [...new Map(room.members.map((m) => [m.principalId, m])).values()];
  return { members, typing };
}
