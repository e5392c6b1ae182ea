"use client";
// One session: its header, a virtualised timeline (older pages load when
// scrolled up) of live events merged by message id with streaming answers,
// the queued messages of the offline outbox, and the composer. The subjects
// live beside it: session-stream.ts (load and follow), answers.ts (siblings,
// stop, regenerate), timeline-scroll.ts (and a link's #seq-<n> target), session-header.tsx.
import { useQuery } from "@tanstack/react-query";
import { ArrowDown, Loader2, MessageSquareDashed } from "lucide-react";
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { useConnection } from "../../_components/connection-badge";
import { errorMessage } from "../../_components/parley";
import { useTRPC } from "../../_components/trpc";
import { EmptyState, ErrorState, Loading } from "../../_components/ui";
import { useAnswers } from "./answers";
import { Composer } from "./composer";
import { MessageItem } from "./message-item";
import { outboxFor } from "./outbox";
import { usePresence } from "./presence";
import { SessionHeader } from "./session-header";
import { useSessionStream } from "./session-stream";
import { TimelineStore } from "./timeline-store";
import { useTimelineScroll } from "./timeline-scroll";

export function SessionView({ id }: { id: string }) {
  const trpc = useTRPC();
  const [store] = useState(() => new TimelineStore());
  const timeline = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  const { session, loadError, streamError, ready, live, retry } = useSessionStream(id, store);
  const connection = useConnection();
  const presence = usePresence(id);
  const outbox = outboxFor(id);
  const queued = useSyncExternalStore(outbox.subscribe, outbox.getSnapshot, outbox.getSnapshot);
  // The tab names the session once it is loaded (the segment's metadata says "Session" until then).
  const title = session?.title;
  useEffect(() => {
    if (title) document.title = `${title} · Parley`;
  }, [title]);

  const { rows, selectSibling, activeRun, stop, onStop, onRegenerate } = useAnswers(timeline.messages);
  const { scrollRef, virtualizer, totalSize, loadingOlder, showJump, onScroll, jumpToEnd, targetSeq } = useTimelineScroll(id, store, rows, timeline, queued.length, ready);
  const agents = useQuery({ ...trpc.agent.list.queryOptions(), staleTime: 60_000 });
  const me = useQuery({ ...trpc.auth.me.queryOptions(), staleTime: 60_000 });
  const answered = useMemo(() => new Set(timeline.messages.flatMap((m) => (m.parentId ? [m.parentId] : []))), [timeline.messages]);
  // Avatar colours by principal: the owner's and the members' profiles, and who is here now.
  const members = useQuery({ ...trpc.session.members.queryOptions({ sessionId: id }), staleTime: 30_000 });
  const owner = session?.owner;
  const colors = useMemo(() => {
    const byId = new Map<string, string | null>();
    if (owner) byId.set(owner.id, owner.avatarColor);
    for (const m of members.data ?? []) byId.set(m.principalId, m.principal.avatarColor);
    for (const m of presence.members) byId.set(m.principalId, m.color);
    return byId;
  }, [owner, members.data, presence.members]);
  /** Author of the message, the session's owner, or an admin (the server checks it again). */
  const mayChange = (m: { authorId: string | null }) =>
    me.data !== undefined && (me.data.role === "admin" || (m.authorId !== null && m.authorId === me.data.id) || session?.ownerId === me.data.id);

  if (loadError) return <ErrorState title="Could not open this session" message={errorMessage(loadError)} retry={retry} />;

  const reconnecting = connection.kind === "reconnecting" || connection.kind === "offline";
  return (
    <div className="-my-6 flex h-[calc(100dvh-3.5rem)] min-h-0 flex-col">
      <SessionHeader
        session={session}
        live={live}
        reconnecting={reconnecting}
        loadedCount={timeline.messages.length}
        members={presence.members}
        meId={me.data?.id ?? null}
        manage={me.data !== undefined && (me.data.role === "admin" || session?.ownerId === me.data.id)}
      />

      {streamError ? (
        <div role="alert" className="mt-3 flex items-center justify-between gap-3 rounded-lg border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100">
          Live updates stopped: {errorMessage(streamError)}
          <button type="button" className="font-medium underline" onClick={retry}>
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
                        canChange={mayChange(m)}
                        authorColor={m.authorId ? (colors.get(m.authorId) ?? null) : null}
                        hasAnswer={answered.has(m.id) && activeRun === null}
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
