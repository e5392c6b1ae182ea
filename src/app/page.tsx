"use client";
// The session list: search, create, archive, and live activity. Activity comes
// from polling `session.list` every 3 s while the tab is visible: one indexed
// query however many sessions are listed, instead of one `session.events`
// subscription per row. A session whose lastSeq grew is bumped to the top
// (the list is ordered by updatedAt) and flagged with its new-message count.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Archive, ArchiveRestore, MessagesSquare, Search } from "lucide-react";
import Link from "next/link";
import { useState } from "react";
import { CreateSessionDialog } from "./_components/create-session-dialog";
import { notify } from "./_components/toasts";
import { useTRPC } from "./_components/trpc";
import { ImportButton } from "./_components/session-transfer";
import { Button, Card, EmptyState, ErrorState, Loading, PageHeader, relativeTime } from "./_components/ui";
import { errorMessage } from "./_components/parley";
import { useDebounced } from "./_components/use-debounced";

export default function SessionsPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [search, setSearch] = useState("");
  const [showArchived, setShowArchived] = useState(false);
  const term = useDebounced(search.trim(), 200);
  const list = useQuery({
    ...trpc.session.list.queryOptions({ limit: 50, search: term || undefined, includeArchived: showArchived }),
    refetchInterval: 3_000,
    placeholderData: keepPreviousData,
    meta: { silent: true },
  });

  // New messages since this page first saw each session (state adjusted while rendering, no effect).
  const [baseline, setBaseline] = useState<Record<string, number>>({});
  const unseen = (list.data?.items ?? []).filter((s) => baseline[s.id] === undefined);
  if (unseen.length > 0) setBaseline((b) => ({ ...b, ...Object.fromEntries(unseen.map((s) => [s.id, s.lastSeq])) }));
  const freshCount = (id: string, lastSeq: number) => {
    const before = baseline[id];
    return before === undefined ? 0 : Math.max(0, lastSeq - before);
  };

  const update = useMutation(
    trpc.session.update.mutationOptions({
      onSuccess: (session) => {
        void queryClient.invalidateQueries({ queryKey: trpc.session.list.queryKey() });
        notify(session.archivedAt ? `Archived “${session.title}”` : `Restored “${session.title}”`);
      },
    }),
  );

  const items = list.data?.items ?? [];
  return (
    <>
      <PageHeader
        title="Sessions"
        description="Shared conversations between people and agents, live."
        actions={
          <div className="flex gap-2">
            <ImportButton />
            <CreateSessionDialog />
          </div>
        }
      />
      <Card className="overflow-hidden">
        <div className="flex flex-wrap items-center gap-3 border-b border-border p-3">
          <label className="relative min-w-56 flex-1">
            <Search size={15} className="pointer-events-none absolute top-1/2 left-3 -translate-y-1/2 text-muted" aria-hidden />
            <input
              type="search"
              aria-label="Search sessions"
              placeholder="Search by title"
              value={search}
              onChange={(e) => setSearch(e.target.value)}
              className="h-9 w-full rounded-lg border border-border bg-bg pr-3 pl-9 text-sm outline-none focus:border-accent"
            />
          </label>
          <label className="flex items-center gap-2 text-sm text-muted">
            <input type="checkbox" checked={showArchived} onChange={(e) => setShowArchived(e.target.checked)} className="accent-[var(--accent)]" />
            Show archived
          </label>
        </div>
        {list.isPending ? (
          <Loading label="Loading sessions…" />
        ) : list.isError && !list.data ? (
          <ErrorState title="Could not load sessions" message={errorMessage(list.error)} retry={() => void list.refetch()} />
        ) : items.length === 0 ? (
          <EmptyState icon={<MessagesSquare size={20} />} title={term ? `No session matches “${term}”` : "No sessions yet"}>
            {term ? "Try another title." : "Create the first one with “New session” (or press c)."}
          </EmptyState>
        ) : (
          <ul aria-label="Sessions" className="divide-y divide-border">
            {items.map((s) => {
              const bump = freshCount(s.id, s.lastSeq);
              return (
                <li key={s.id} className="group flex items-center gap-3 px-4 py-3 hover:bg-subtle/60" data-session-id={s.id}>
                  <div className="grid h-9 w-9 shrink-0 place-items-center rounded-lg bg-subtle text-sm font-semibold text-muted uppercase">
                    {s.title.slice(0, 1)}
                  </div>
                  <Link href={`/s/${s.id}`} className="min-w-0 flex-1 rounded-md">
                    <span className="flex items-center gap-2">
                      <span className="truncate font-medium">{s.title}</span>
                      {s.archivedAt && <span className="rounded-full bg-subtle px-2 py-0.5 text-[11px] text-muted">archived</span>}
                      {bump ? (
                        <span className="rounded-full bg-accent px-2 py-0.5 text-[11px] font-semibold text-accent-fg" aria-label={`${bump} new`}>
                          {bump} new
                        </span>
                      ) : null}
                    </span>
                    <span className="mt-0.5 block text-xs text-muted">
                      {s.lastSeq} {s.lastSeq === 1 ? "message" : "messages"} · active {relativeTime(s.updatedAt)}
                    </span>
                  </Link>
                  <Button
                    size="sm"
                    variant="ghost"
                    aria-label={s.archivedAt ? `Restore ${s.title}` : `Archive ${s.title}`}
                    disabled={update.isPending}
                    onClick={() => update.mutate({ id: s.id, archived: !s.archivedAt })}
                    className="opacity-60 group-hover:opacity-100 focus:opacity-100"
                  >
                    {s.archivedAt ? <ArchiveRestore size={15} /> : <Archive size={15} />}
                    {s.archivedAt ? "Restore" : "Archive"}
                  </Button>
                </li>
              );
            })}
          </ul>
        )}
      </Card>
    </>
  );
}
