"use client";
// Chat answers in the timeline: of regenerated siblings (one parent), the one
// shown (chosen, else the newest) where the first sits; the run streaming
// now; stop and regenerate.
import { useCallback, useMemo, useState } from "react";
import { runIdOf } from "../../../shared/chat";
import { parley } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import type { Siblings } from "./message-item";
import type { Message } from "./timeline-store";

export interface Row {
  message: Message;
  siblings: Siblings | null;
}

/** Regenerated answers share a parentId: show one of them (the chosen, else the newest) where the first one sits. */
export function visibleRows(messages: readonly Message[], chosen: Record<string, string>): Row[] {
  const answers = new Map<string, Message[]>();
  for (const m of messages) {
    if (m.parentId && m.role === "assistant") {
      const group = answers.get(m.parentId);
      if (group) group.push(m);
      else answers.set(m.parentId, [m]);
    }
  }
  const rows: Row[] = [];
  for (const m of messages) {
    const group = m.parentId && m.role === "assistant" ? answers.get(m.parentId) : undefined;
    if (!group || group.length < 2 || !m.parentId) {
      rows.push({ message: m, siblings: null });
      continue;
    }
    if (group[0]?.id !== m.id) continue;
    let index = group.findIndex((g) => g.id === chosen[m.parentId!]);
    if (index < 0) index = group.length - 1;
    rows.push({ message: group[index]!, siblings: { parentId: m.parentId, index, count: group.length } });
  }
  return rows;
}

/** The run of the newest answer still streaming; null when none is. */
function streamingRun(messages: readonly Message[]): string | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.status === "streaming") return runIdOf(m);
  }
  return null;
}

export function useAnswers(messages: readonly Message[]) {
  const [chosen, setChosen] = useState<Record<string, string>>({});
  const rows = useMemo(() => visibleRows(messages, chosen), [messages, chosen]);
  const selectSibling = useCallback(
    (parentId: string, index: number) => {
      const group = messages.filter((m) => m.parentId === parentId && m.role === "assistant");
      const target = group[index];
      if (target) setChosen((c) => ({ ...c, [parentId]: target.id }));
    },
    [messages],
  );
  const activeRun = useMemo(() => streamingRun(messages), [messages]);

  const stop = useCallback(async (runId: string) => {
    try {
      await parley().api.chat.stop.mutate({ runId });
    } catch (error) {
      notifyError("Could not stop the answer", error);
    }
  }, []);
  const onStop = useCallback(
    (m: Message) => {
      const runId = runIdOf(m);
      if (runId) void stop(runId);
    },
    [stop],
  );
  const onRegenerate = useCallback((m: Message) => {
    void (async () => {
      try {
        const result = await parley().api.chat.regenerate.mutate({ messageId: m.id });
        // Show the new answer as soon as it arrives.
        setChosen((c) => {
          const next = { ...c };
          delete next[result.parentId];
          return next;
        });
      } catch (error) {
        notifyError("Could not regenerate", error);
      }
    })();
  }, []);
  return { rows, selectSibling, activeRun, stop, onStop, onRegenerate };
}
