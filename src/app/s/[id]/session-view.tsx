"use client";
// One session: a virtualised timeline (older pages load when scrolled up),
// live events merged by message id, streaming answers, presence, and the
// composer with its offline queue.
import { useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ArrowDown, ArrowLeft, Loader2, MessageSquareDashed } from "lucide-react";
import Link from "next/link";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import type { RouterOutputs } from "../../../client";
import { runIdOf } from "../../../shared/chat";
import { useConnection } from "../../_components/connection-badge";
import { errorMessage, parley } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import { useTRPC } from "../../_components/trpc";
import { EmptyState, ErrorState, Loading } from "../../_components/ui";
import { Composer } from "./composer";
import { MessageItem, type Siblings } from "./message-item";
import { outboxFor } from "./outbox";
import { usePresence } from "./presence";
import { TimelineStore, type Message } from "./timeline-store";

type Session = RouterOutputs["session"]["get"];

const PAGE_SIZE = 50;

interface Row {
  message: Message;
  siblings: Siblings | null;
}

/** Regenerated answers share a parentId: show one of them (the chosen, else the newest) where the first one sits. */
function visibleRows(messages: readonly Message[], chosen: Record<string, string>): Row[] {
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

export function SessionView({ id }: { id: string }) {
  const trpc = useTRPC();
  const [store] = useState(() => new TimelineStore());
  const timeline = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const [session, setSession] = useState<Session | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [streamError, setStreamError] = useState<unknown>(null);
  const [ready, setReady] = useState(false);
  const [live, setLive] = useState(false);
  const [attempt, setAttempt] = useState(0);
  const connection = useConnection();
  const presence = usePresence(id);
  const outbox = outboxFor(id);
  const queued = useSyncExternalStore(outbox.subscribe, outbox.getSnapshot, outbox.getSnapshot);

  // Load: session (its event cursor), the newest page, then the live stream
  // from that cursor. Events that the page already holds merge by id.
  useEffect(() => {
    let cancelled = false;
    let subscription: { unsubscribe: () => void } | null = null;
    const { api } = parley();
    void (async () => {
      try {
        const s = await api.session.get.query({ id });
        if (cancelled) return;
        setSession(s);
        const page = await api.message.list.query({ sessionId: id, beforeSeq: s.lastSeq + 1, limit: PAGE_SIZE });
        if (cancelled) return;
        store.addPage(page.items, (page.items[0]?.seq ?? 1) > 1);
        setReady(true);
        subscription = api.session.events.subscribe(
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
      } catch (error) {
        if (!cancelled) setLoadError(error);
      }
    })();
    return () => {
      cancelled = true;
      subscription?.unsubscribe();
    };
  }, [id, store, attempt]);
  useEffect(() => () => store.dispose(), [store]);

  const [chosen, setChosen] = useState<Record<string, string>>({});
  const rows = useMemo(() => visibleRows(timeline.messages, chosen), [timeline.messages, chosen]);
  const selectSibling = useCallback(
    (parentId: string, index: number) => {
      const group = timeline.messages.filter((m) => m.parentId === parentId && m.role === "assistant");
      const target = group[index];
      if (target) setChosen((c) => ({ ...c, [parentId]: target.id }));
    },
    [timeline.messages],
  );
  const activeRun = useMemo(() => {
    for (let i = timeline.messages.length - 1; i >= 0; i--) {
      const m = timeline.messages[i]!;
      if (m.status === "streaming") return runIdOf(m);
    }
    return null;
  }, [timeline.messages]);

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
  const onRegenerate = useCallback((m: Message) => void regenerate(m), []);
  async function regenerate(m: Message) {
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
  }

  // Timeline scrolling: virtualised rows, stick to the bottom while there, load older near the top.
  const scrollRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  /** The message a link opened (#seq-<n>): marked, and the view stays on it (no sticking to the end) until "jump to end". */
  const [targetSeq, setTargetSeq] = useState<number | null>(null);
  const [showJump, setShowJump] = useState(false);
  const prepend = useRef<{ height: number; top: number } | null>(null);
  const [loadingOlder, setLoadingOlder] = useState(false);
  // eslint-disable-next-line react-hooks/incompatible-library -- TanStack Virtual returns a mutable instance by design
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => 84,
    overscan: 8,
    getItemKey: (index) => rows[index]?.message.id ?? index,
  });
  const totalSize = virtualizer.getTotalSize();

  const loadOlder = useCallback(async () => {
    const el = scrollRef.current;
    const before = store.oldestSeq();
    if (!el || loadingOlder || !store.getSnapshot().hasOlder || before === null) return;
    setLoadingOlder(true);
    try {
      const page = await parley().api.message.list.query({ sessionId: id, beforeSeq: before, limit: PAGE_SIZE });
      prepend.current = { height: el.scrollHeight, top: el.scrollTop };
      store.addPage(page.items, page.items.length === PAGE_SIZE && (page.items[0]?.seq ?? 1) > 1);
    } catch (error) {
      notifyError("Could not load older messages", error);
    } finally {
      setLoadingOlder(false);
    }
  }, [id, loadingOlder, store]);

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    if (prepend.current) {
      el.scrollTop = prepend.current.top + (el.scrollHeight - prepend.current.height);
      prepend.current = null;
    } else if (atBottom.current && targetSeq === null) {
      el.scrollTop = el.scrollHeight;
    }
  }, [timeline, totalSize, queued.length, targetSeq]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
    setShowJump(!atBottom.current);
    if (el.scrollTop < 400) void loadOlder();
  };

  // /s/<id>#seq-<n> (search results, the assistant's links): load older pages back to that
  // message, scroll it into view and mark it; once per hash (a new hash jumps again). The
  // hash is read when the effect runs: a client-side navigation sets it after this view mounts.
  const [hashChanges, setHashChanges] = useState(0);
  const [jumpedTo, setJumpedTo] = useState<string | null>(null);
  useEffect(() => {
    const changed = () => setHashChanges((n) => n + 1);
    window.addEventListener("hashchange", changed);
    return () => window.removeEventListener("hashchange", changed);
  }, []);
  useEffect(() => {
    const hash = window.location.hash;
    const target = /^#seq-(\d+)$/.exec(hash)?.[1];
    // Nothing shown yet (the first page is on its way), or jumped there already.
    if (!ready || rows.length === 0 || !target || jumpedTo === hash) return;
    const seq = Number(target);
    const index = rows.findIndex((row) => row.message.seq === seq);
    if (index >= 0) {
      atBottom.current = false;
      virtualizer.scrollToIndex(index, { align: "center" });
      setJumpedTo(hash);
      setTargetSeq(seq);
      return;
    }
    // What this render shows reaches back far enough, without it: hidden from this reader, or gone.
    const shownOldest = timeline.messages[0]?.seq ?? null;
    if (shownOldest !== null && shownOldest <= seq) setJumpedTo(hash);
    // Older pages still to load (the store may already hold the next one this render does not show yet).
    else if (timeline.hasOlder && (store.oldestSeq() ?? 0) > seq) void loadOlder();
  }, [hashChanges, jumpedTo, ready, rows, virtualizer, store, timeline.messages, timeline.hasOlder, loadOlder]);

  const jumpToEnd = () => {
    const el = scrollRef.current;
    if (!el) return;
    atBottom.current = true;
    setTargetSeq(null);
    el.scrollTop = el.scrollHeight;
    setShowJump(false);
  };

  const agents = useQuery({ ...trpc.agent.list.queryOptions(), staleTime: 60_000 });

  if (loadError) {
    return (
      <ErrorState
        title="Could not open this session"
        message={errorMessage(loadError)}
        retry={() => {
          setLoadError(null);
          setAttempt((a) => a + 1);
        }}
      />
    );
  }

  const reconnecting = connection.kind === "reconnecting" || connection.kind === "offline";
  return (
    <div className="-my-6 flex h-[calc(100dvh-3.5rem)] min-h-0 flex-col">
      <div className="flex items-center gap-3 border-b border-border py-3">
        <Link href="/" aria-label="All sessions" className="rounded-md p-1.5 text-muted hover:bg-subtle hover:text-fg">
          <ArrowLeft size={18} />
        </Link>
        <div className="min-w-0 flex-1">
          <h1 className="truncate text-lg font-semibold tracking-tight">{session?.title ?? "…"}</h1>
          <p className="text-xs text-muted">
            <span data-testid="live-state">{live ? "live" : reconnecting ? "reconnecting…" : "connecting…"}</span>
            {session && ` · ${timeline.messages.length} loaded`}
            {session?.archivedAt && " · archived"}
          </p>
        </div>
        <div className="flex items-center -space-x-2" aria-label="People here" data-testid="presence">
          {presence.members.slice(0, 6).map((m) => (
            <span
              key={m.principalId}
              title={m.name}
              className="grid h-8 w-8 place-items-center rounded-full border-2 border-panel bg-accent/80 text-xs font-semibold text-accent-fg uppercase"
            >
              {m.name.replace(/^Guest /, "").slice(0, 2)}
            </span>
          ))}
          {presence.members.length > 6 && (
            <span className="grid h-8 w-8 place-items-center rounded-full border-2 border-panel bg-subtle text-xs">+{presence.members.length - 6}</span>
          )}
        </div>
      </div>

      {streamError ? (
        <div role="alert" className="mt-3 flex items-center justify-between gap-3 rounded-lg border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100">
          Live updates stopped: {errorMessage(streamError)}
          <button type="button" className="font-medium underline" onClick={() => setAttempt((a) => a + 1)}>
            Reconnect
          </button>
        </div>
      ) : null}

      <div className="relative min-h-0 flex-1">
        <div ref={scrollRef} onScroll={onScroll} className="h-full overflow-y-auto overscroll-contain" role="log" aria-label="Messages" aria-live="polite">
          {!ready ? (
            <Loading label="Loading messages…" />
          ) : rows.length === 0 && queued.length === 0 ? (
            <EmptyState icon={<MessageSquareDashed size={20} />} title="No messages yet">
              Write the first one below. Pick an agent to get an answer streamed back.
            </EmptyState>
          ) : (
            <>
              <div className="flex h-10 items-center justify-center text-xs text-muted">
                {loadingOlder ? (
                  <span className="flex items-center gap-1.5">
                    <Loader2 size={13} className="animate-spin" /> Loading older messages…
                  </span>
                ) : timeline.hasOlder ? (
                  "Scroll up for older messages"
                ) : (
                  "Start of the session"
                )}
              </div>
              <div style={{ height: totalSize, position: "relative" }}>
                {virtualizer.getVirtualItems().map((item) => {
                  const row = rows[item.index]!;
                  const m = row.message;
                  return (
                    <div
                      key={item.key}
                      data-index={item.index}
                      data-target={m.seq === targetSeq ? "true" : undefined}
                      ref={virtualizer.measureElement}
                      style={{ position: "absolute", top: 0, left: 0, width: "100%", transform: `translateY(${item.start}px)` }}
                    >
                      <MessageItem
                        message={m}
                        liveText={timeline.live.get(m.id)}
                        siblings={row.siblings}
                        onStop={onStop}
                        onRegenerate={onRegenerate}
                        onSelectSibling={selectSibling}
                        canRegenerate={m.role === "assistant" && !!m.parentId && activeRun === null}
                      />
                    </div>
                  );
                })}
              </div>
              {queued.length > 0 && (
                <ol aria-label="Queued messages" className="space-y-2 pb-2">
                  {queued.map((q) => (
                    <li key={q.key} data-testid="queued-message" className="ml-11 rounded-lg border border-dashed border-border bg-subtle/60 px-3 py-2 text-sm">
                      <span className="mb-0.5 block text-[11px] font-medium text-muted uppercase">
                        {q.state === "sending" ? "Sending…" : "Queued · sent when the connection is back"}
                      </span>
                      <span className="whitespace-pre-wrap">{q.content}</span>
                    </li>
                  ))}
                </ol>
              )}
            </>
          )}
        </div>
        {showJump && (
          <button
            type="button"
            onClick={jumpToEnd}
            className="absolute right-4 bottom-3 flex items-center gap-1 rounded-full border border-border bg-panel px-3 py-1.5 text-xs font-medium shadow-md hover:bg-subtle"
          >
            <ArrowDown size={13} /> Latest
          </button>
        )}
      </div>

      <Composer
        sessionId={id}
        agents={agents.data ?? []}
        activeRunId={activeRun}
        onStop={(runId) => void stop(runId)}
        typing={presence.typing}
        onSent={jumpToEnd}
      />
    </div>
  );
}
