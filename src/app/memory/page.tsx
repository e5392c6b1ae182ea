"use client";
// /memory: the memories you may read, newest first (memory.list), filtered by
// scope and tag or ranked for a query (memory.recall); add, edit and delete;
// and live: changes from other tabs and agents arrive through memory.events,
// resumed from the listing's own cursor so nothing between the two is missed.
import { Brain, Pencil, Trash2 } from "lucide-react";
import { useEffect, useMemo, useState, type FormEvent } from "react";
import type { MemoryItem, RecallHit, RouterInputs } from "@parley/client";
import { followAfterLoad } from "../_components/follow-after-load";
import { Marked } from "../_components/global-search";
import { errorMessage, parley } from "../_components/parley";
import { notify, notifyError } from "../_components/toasts";
import { Button, Card, EmptyState, ErrorState, PageHeader, relativeTime } from "../_components/ui";

type ScopeFilter = "all" | "global" | "mine";
type Visibility = NonNullable<RouterInputs["memory"]["store"]["visibility"]>;
const PAGE = 50;

const scopeInput = (filter: ScopeFilter): RouterInputs["memory"]["list"]["scope"] =>
  filter === "global" ? { kind: "global" } : filter === "mine" ? { kind: "principal" } : undefined;

function matches(memory: MemoryItem, filter: ScopeFilter, tag: string): boolean {
  if (filter === "global" && memory.scope.kind !== "global") return false;
  if (filter === "mine" && memory.scope.kind !== "principal") return false;
  return tag === "" || memory.tags.includes(tag.toLowerCase());
}

const parseTags = (text: string) => text.split(/[\s,]+/).map((t) => t.trim()).filter(Boolean);

export default function MemoryPage() {
  const [filter, setFilter] = useState<ScopeFilter>("all");
  const [tag, setTag] = useState("");
  const [query, setQuery] = useState("");
  const [items, setItems] = useState<MemoryItem[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [recalled, setRecalled] = useState<RecallHit[] | null>(null);
  const hits = query.trim() ? recalled : null;
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);
  const [editing, setEditing] = useState<string | null>(null);

  // The listing, then its live changes from the listing's own cursor.
  useEffect(() => {
    const { api } = parley();
    return followAfterLoad(async (current) => {
      const page = await api.memory.list.query({ scope: scopeInput(filter), tag: tag || undefined, limit: PAGE });
      if (!current()) return null;
      setItems(page.items);
      setCursor(page.nextCursor);
      setError(null);
      return api.memory.events.subscribe(
        { lastEventId: page.eventCursor },
        {
          onData: ({ data: event }) => {
            setItems((items) => {
              if (event.type === "memory.deleted" || event.type === "memory.hidden") return items.filter((m) => m.id !== event.id);
              const memory = event.memory;
              const rest = items.filter((m) => m.id !== memory.id);
              if (!matches(memory, filter, tag)) return rest;
              return items.some((m) => m.id === memory.id) ? items.map((m) => (m.id === memory.id ? memory : m)) : [memory, ...rest];
            });
          },
          onError: setError,
        },
      );
    }, setError);
  }, [filter, tag, attempt]);

  // A query ranks instead of listing (memory.recall), debounced.
  useEffect(() => {
    const text = query.trim();
    if (!text) return;
    let cancelled = false;
    const timer = setTimeout(() => {
      parley()
        .api.memory.recall.query({ query: text, scope: scopeInput(filter), tag: tag || undefined, limit: 30 })
        .then((result) => !cancelled && setRecalled(result.items), (e: unknown) => !cancelled && setError(e));
    }, 200);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [query, filter, tag]);

  const loadMore = async () => {
    if (!cursor) return;
    try {
      const page = await parley().api.memory.list.query({ scope: scopeInput(filter), tag: tag || undefined, limit: PAGE, cursor });
      setItems((current) => [...current, ...page.items.filter((m) => !current.some((c) => c.id === m.id))]);
      setCursor(page.nextCursor);
    } catch (e) {
      notifyError("Could not load more memories", e);
    }
  };

  const remove = async (id: string) => {
    try {
      await parley().api.memory.delete.mutate({ id });
      setItems((current) => current.filter((m) => m.id !== id));
    } catch (e) {
      notifyError("Could not delete the memory", e);
    }
  };

  const shown = useMemo(() => (hits ? hits.map((h) => h.memory) : items), [hits, items]);
  const highlightOf = useMemo(() => new Map((hits ?? []).map((h) => [h.memory.id, h])), [hits]);

  return (
    <>
      <PageHeader
        title="Memory"
        description="What people and agents stored to recall later: ranked by words, and by meaning when embeddings are configured. Changes from other tabs and agents appear live."
      />
      <AddMemory />
      <Card className="mt-4 p-3">
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <label className="flex items-center gap-1.5">
            Scope
            <select aria-label="Scope filter" value={filter} onChange={(e) => setFilter(e.target.value as ScopeFilter)} className="h-8 rounded-md border border-border bg-bg px-2">
              <option value="all">everything I can read</option>
              <option value="global">global</option>
              <option value="mine">mine</option>
            </select>
          </label>
          <input aria-label="Tag filter" value={tag} onChange={(e) => setTag(e.target.value.trim())} placeholder="tag" maxLength={48} className="h-8 w-32 rounded-md border border-border bg-bg px-2" />
          <input aria-label="Recall query" value={query} onChange={(e) => setQuery(e.target.value)} placeholder="recall: what are you looking for?" maxLength={1_000} className="h-8 min-w-48 flex-1 rounded-md border border-border bg-bg px-2" />
        </div>
      </Card>
      {error ? (
        <div className="mt-4">
          <ErrorState title="Could not load memories" message={errorMessage(error)} retry={() => setAttempt((a) => a + 1)} />
        </div>
      ) : shown.length === 0 ? (
        <div className="mt-4">
          <EmptyState icon={<Brain size={20} />} title={hits ? "Nothing recalled" : "No memories yet"}>
            {hits ? "No memory you may read matches." : "Add one above, or let an agent store some (memory.store)."}
          </EmptyState>
        </div>
      ) : (
        <ul className="mt-4 space-y-2" data-testid="memory-list">
          {shown.map((memory) => (
            <li key={memory.id} data-testid="memory" data-id={memory.id}>
              <Card className="p-3">
                {editing === memory.id ? (
                  <EditMemory memory={memory} done={() => setEditing(null)} />
                ) : (
                  <div className="flex items-start gap-3">
                    <div className="min-w-0 flex-1">
                      {memory.title && <p className="font-medium">{memory.title}</p>}
                      <p className="text-sm whitespace-pre-wrap" data-testid="memory-content">
                        {highlightOf.get(memory.id)?.matched.length ? <Marked highlight={highlightOf.get(memory.id)?.highlight ?? []} /> : memory.content}
                      </p>
                      <p className="mt-1 text-xs text-muted">
                        {memory.scope.kind}
                        {memory.scope.sessionId ? ` · session ${memory.scope.sessionId}` : ""} · {memory.visibility} · {relativeTime(memory.updatedAt)}
                        {memory.embedded ? " · embedded" : ""}
                        {memory.tags.map((t) => ` #${t}`).join("")}
                        {highlightOf.has(memory.id) ? ` · score ${highlightOf.get(memory.id)?.score.toFixed(4)}` : ""}
                      </p>
                    </div>
                    <Button size="sm" variant="ghost" aria-label="Edit memory" onClick={() => setEditing(memory.id)}>
                      <Pencil size={14} />
                    </Button>
                    <Button size="sm" variant="ghost" aria-label="Delete memory" onClick={() => void remove(memory.id)}>
                      <Trash2 size={14} />
                    </Button>
                  </div>
                )}
              </Card>
            </li>
          ))}
        </ul>
      )}
      {!hits && cursor && (
        <div className="mt-3 flex justify-center">
          <Button onClick={() => void loadMore()}>Load more</Button>
        </div>
      )}
    </>
  );
}

function AddMemory() {
  const [content, setContent] = useState("");
  const [title, setTitle] = useState("");
  const [tags, setTags] = useState("");
  const [visibility, setVisibility] = useState<Visibility>("public");
  const [mine, setMine] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!content.trim()) return;
    setBusy(true);
    try {
      // The listing shows it through memory.events, like a memory stored by anyone else.
      await parley().api.memory.store.mutate({ content, title: title || undefined, tags: parseTags(tags), visibility, scope: mine ? { kind: "principal" } : { kind: "global" } });
      setContent("");
      setTitle("");
      setTags("");
      notify("Memory stored", "Recallable by its words now.");
    } catch (error) {
      notifyError("Could not store the memory", error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card className="p-3">
      <form onSubmit={(e) => void submit(e)} className="space-y-2">
        <textarea aria-label="New memory" value={content} onChange={(e) => setContent(e.target.value)} placeholder="Something to remember…" rows={2} className="block w-full rounded-lg border border-border bg-bg p-2 text-sm" />
        <div className="flex flex-wrap items-center gap-2 text-sm">
          <input aria-label="New memory title" value={title} onChange={(e) => setTitle(e.target.value)} placeholder="title (optional)" maxLength={200} className="h-8 rounded-md border border-border bg-bg px-2" />
          <input aria-label="New memory tags" value={tags} onChange={(e) => setTags(e.target.value)} placeholder="tags, comma separated" className="h-8 rounded-md border border-border bg-bg px-2" />
          <select aria-label="New memory visibility" value={visibility} onChange={(e) => setVisibility(e.target.value as Visibility)} className="h-8 rounded-md border border-border bg-bg px-2">
            <option value="public">public</option>
            <option value="private">private</option>
            <option value="agent_only">agents only</option>
          </select>
          <label className="flex items-center gap-1">
            <input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked)} /> only about me
          </label>
          <Button type="submit" variant="primary" disabled={busy || !content.trim()} className="ml-auto">
            Add memory
          </Button>
        </div>
      </form>
    </Card>
  );
}

function EditMemory({ memory, done }: { memory: MemoryItem; done: () => void }) {
  const [content, setContent] = useState(memory.content);
  const [title, setTitle] = useState(memory.title ?? "");
  const [tags, setTags] = useState(memory.tags.join(", "));
  const save = async (e: FormEvent) => {
    e.preventDefault();
    try {
      await parley().api.memory.update.mutate({ id: memory.id, content, title: title || null, tags: parseTags(tags) });
      done();
    } catch (error) {
      notifyError("Could not save the memory", error);
    }
  };
  return (
    <form onSubmit={(e) => void save(e)} className="space-y-2">
      <input aria-label="Memory title" value={title} onChange={(e) => setTitle(e.target.value)} maxLength={200} className="h-8 w-full rounded-md border border-border bg-bg px-2 text-sm" />
      <textarea aria-label="Memory content" value={content} onChange={(e) => setContent(e.target.value)} rows={3} className="block w-full rounded-lg border border-border bg-bg p-2 text-sm" />
      <input aria-label="Memory tags" value={tags} onChange={(e) => setTags(e.target.value)} className="h-8 w-full rounded-md border border-border bg-bg px-2 text-sm" />
      <div className="flex justify-end gap-2">
        <Button onClick={done}>Cancel</Button>
        <Button type="submit" variant="primary" disabled={!content.trim()}>
          Save
        </Button>
      </div>
    </form>
  );
}
