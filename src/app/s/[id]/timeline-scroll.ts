"use client";
// The timeline's scrolling: virtualised rows, stuck to the bottom while the
// reader is there, older pages loaded near the top (keeping the reader's
// place), a jump to the latest message, and a link's target (#seq-<n>:
// search results, the assistant's links) loaded back to, scrolled to and marked.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "react";
import { parley } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import type { Row } from "./answers";
import { PAGE_SIZE } from "./session-stream";
import type { TimelineSnapshot, TimelineStore } from "./timeline-store";

/** `timeline` and `queuedCount`: what changes the content's height besides the rows' sizes; `ready`: the first page is shown. */
export function useTimelineScroll(id: string, store: TimelineStore, rows: readonly Row[], timeline: TimelineSnapshot, queuedCount: number, ready: boolean) {
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
  }, [timeline, totalSize, queuedCount, targetSeq]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
    setShowJump(!atBottom.current);
    if (el.scrollTop < 400) void loadOlder();
  };

  // /s/<id>#seq-<n>: load older pages back to that message, scroll it into view and mark it;
  // once per hash (a new hash jumps again). The hash is read when the effect runs: a
  // client-side navigation sets it after this view mounts.
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

  return { scrollRef, virtualizer, totalSize, loadingOlder, showJump, onScroll, jumpToEnd, targetSeq };
}
