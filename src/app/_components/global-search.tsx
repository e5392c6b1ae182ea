"use client";
// Search every message you may read (message.search), from any page: the
// header's search button, Ctrl+K (⌘K) or "/" outside a text field. Results are
// grouped by session, matched words marked; Enter or a click opens the
// message in its session (/s/<id>#seq-<n>); ↑/↓ move between results.
import * as Dialog from "@radix-ui/react-dialog";
import { useQuery } from "@tanstack/react-query";
import { Search, X } from "lucide-react";
import { useRouter } from "next/navigation";
import { useEffect, useMemo, useState, type KeyboardEvent as ReactKeyboardEvent } from "react";
import type { Highlight, MessageSearchHit } from "@parley/client";
import { errorMessage } from "./parley";
import { useTRPC } from "./trpc";
import { useDebounced } from "./use-debounced";

/** Passage pieces with the matched words in <mark>. */
export function Marked({ highlight }: { highlight: Highlight }) {
  return (
    <>
      {highlight.map((piece, i) =>
        piece.match ? (
          <mark key={i} className="rounded bg-amber-200/70 px-0.5 text-fg dark:bg-amber-500/30">
            {piece.text}
          </mark>
        ) : (
          <span key={i}>{piece.text}</span>
        ),
      )}
    </>
  );
}

export function GlobalSearch() {
  const trpc = useTRPC();
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [text, setText] = useState("");
  const [active, setActive] = useState(0);
  const query = useDebounced(text.trim(), 200);
  const results = useQuery({ ...trpc.message.search.queryOptions({ query, limit: 30 }), enabled: open && query.length > 0 });
  const hits = useMemo(() => results.data?.items ?? [], [results.data]);
  const groups = useMemo(() => {
    const bySession = new Map<string, { title: string; hits: MessageSearchHit[] }>();
    for (const hit of hits) {
      const group = bySession.get(hit.sessionId) ?? { title: hit.sessionTitle, hits: [] };
      group.hits.push(hit);
      bySession.set(hit.sessionId, group);
    }
    return [...bySession.values()];
  }, [hits]);
  // The keyboard order is the grouped order.
  const ordered = useMemo(() => groups.flatMap((g) => g.hits), [groups]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      const typing = target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
      if ((e.key === "k" && (e.ctrlKey || e.metaKey)) || (e.key === "/" && !typing && !e.ctrlKey && !e.metaKey && !e.altKey)) {
        e.preventDefault();
        setOpen(true);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const openHit = (hit: MessageSearchHit | undefined) => {
    if (!hit) return;
    setOpen(false);
    router.push(hit.link);
  };

  const onKeyDown = (e: ReactKeyboardEvent) => {
    if (e.key === "ArrowDown") setActive((i) => Math.min(i + 1, Math.max(0, ordered.length - 1)));
    else if (e.key === "ArrowUp") setActive((i) => Math.max(i - 1, 0));
    else if (e.key === "Enter") openHit(ordered[active]);
    else return;
    e.preventDefault();
  };

  return (
    <Dialog.Root open={open} onOpenChange={setOpen}>
      <Dialog.Trigger asChild>
        <button
          type="button"
          aria-keyshortcuts="Control+K /"
          className="flex items-center gap-1.5 rounded-md border border-border px-2.5 py-1.5 text-sm text-muted hover:bg-subtle hover:text-fg"
        >
          <Search size={15} aria-hidden />
          <span className="hidden md:inline">Search</span>
          <kbd className="hidden rounded border border-border px-1 text-[10px] md:inline">Ctrl K</kbd>
        </button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40 backdrop-blur-[2px]" />
        <Dialog.Content className="fixed top-[12%] left-1/2 z-50 flex max-h-[70vh] w-[min(40rem,calc(100vw-2rem))] -translate-x-1/2 flex-col rounded-2xl border border-border bg-panel shadow-2xl">
          <div className="flex items-center gap-2 border-b border-border px-4 py-3">
            <Search size={16} className="text-muted" aria-hidden />
            <Dialog.Title className="sr-only">Search messages</Dialog.Title>
            <Dialog.Description className="sr-only">Every message you may read, best match first, grouped by session.</Dialog.Description>
            <input
              autoFocus
              aria-label="Search words"
              value={text}
              maxLength={1_000}
              onChange={(e) => {
                setText(e.target.value);
                setActive(0);
              }}
              onKeyDown={onKeyDown}
              placeholder="Search every message you can read…"
              className="h-8 flex-1 bg-transparent text-sm outline-none"
            />
            <Dialog.Close aria-label="Close" className="rounded-md p-1 text-muted hover:bg-subtle hover:text-fg">
              <X size={16} />
            </Dialog.Close>
          </div>
          <div className="min-h-0 flex-1 overflow-y-auto p-2" data-testid="search-results">
            {results.error ? (
              <p className="p-3 text-sm text-red-600">{errorMessage(results.error)}</p>
            ) : query.length === 0 ? (
              <p className="p-3 text-sm text-muted">Type words to find; Enter opens the first result.</p>
            ) : results.isPending ? (
              <p className="p-3 text-sm text-muted">Searching…</p>
            ) : ordered.length === 0 ? (
              <p className="p-3 text-sm text-muted">No message matches “{query}”.</p>
            ) : (
              groups.map((group) => (
                <section key={group.hits[0]?.sessionId} aria-label={group.title} className="mb-2">
                  <h3 className="px-2 py-1 text-xs font-semibold tracking-wide text-muted uppercase">{group.title}</h3>
                  {group.hits.map((hit) => {
                    const index = ordered.indexOf(hit);
                    return (
                      <button
                        key={hit.messageId}
                        type="button"
                        data-testid="search-hit"
                        aria-current={index === active ? "true" : undefined}
                        onMouseEnter={() => setActive(index)}
                        onClick={() => openHit(hit)}
                        className={`block w-full rounded-lg px-3 py-2 text-left text-sm ${index === active ? "bg-subtle" : ""}`}
                      >
                        <span className="text-xs text-muted">
                          {hit.author}
                          {hit.authorLabel ? ` “${hit.authorLabel}”` : ""} · #{hit.seq}
                        </span>
                        <span className="mt-0.5 block line-clamp-2">
                          <Marked highlight={hit.highlight} />
                        </span>
                      </button>
                    );
                  })}
                </section>
              ))
            )}
          </div>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
