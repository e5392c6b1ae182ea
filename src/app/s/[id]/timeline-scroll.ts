"use client";
// The timeline's scrolling: virtualised rows, stuck to the bottom while the
// reader is there, older pages loaded near the top (keeping the reader's
// place), and a jump to the latest message.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useCallback, useLayoutEffect, useRef, useState } from "react";
import { parley } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import type { Row } from "./answers";
import { PAGE_SIZE } from "./session-stream";
import type { TimelineStore } from "./timeline-store";

/** `timeline` and `queuedCount`: what changes the content's height besides the rows' sizes. */
export function useTimelineScroll(id: string, store: TimelineStore, rows: readonly Row[], timeline: unknown, queuedCount: number) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
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
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [timeline, totalSize, queuedCount]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 120;
    setShowJump(!atBottom.current);
    if (el.scrollTop < 400) void loadOlder();
  };

  const jumpToEnd = () => {
    const el = scrollRef.current;
    if (!el) return;
    atBottom.current = true;
    el.scrollTop = el.scrollHeight;
    setShowJump(false);
  };

  return { scrollRef, virtualizer, totalSize, loadingOlder, showJump, onScroll, jumpToEnd };
}
