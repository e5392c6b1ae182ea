"use client";
// One message in the timeline: author, time, status, safe markdown, and for
// answers: metadata on hover, Stop while streaming, Regenerate and the
// switcher between regenerated siblings.
import * as Tooltip from "@radix-ui/react-tooltip";
import { Bot, ChevronLeft, ChevronRight, Info, RotateCcw, Square, User } from "lucide-react";
import { memo, useState } from "react";
import { runMetadataSchema } from "../../../shared/chat";
import { Avatar } from "../../_components/avatar";
import { Markdown } from "../../_components/markdown";
import { EditHistory, MessageEditor, MessageMenu } from "./message-actions";
import type { Message } from "./timeline-store";

export interface Siblings {
  parentId: string;
  index: number;
  count: number;
}

const statusStyle: Record<string, string> = {
  streaming: "bg-sky-100 text-sky-800 dark:bg-sky-950 dark:text-sky-200",
  stopped: "bg-amber-100 text-amber-800 dark:bg-amber-950 dark:text-amber-200",
  error: "bg-red-100 text-red-800 dark:bg-red-950 dark:text-red-200",
};

function fmt(n: number | null | undefined, digits = 0, unit = "") {
  return n === null || n === undefined ? "—" : `${n.toFixed(digits)}${unit}`;
}

function MetadataTooltip({ message }: { message: Message }) {
  const parsed = runMetadataSchema.safeParse(message.metadata);
  if (!parsed.success) return null;
  const m = parsed.data;
  const rows: [string, string][] = [
    ["Agent", m.agentName],
    ["Model", `${m.model} (${m.provider})`],
    ["Tokens", `${fmt(m.promptTokens)} in · ${fmt(m.completionTokens)} out${m.usageSource === "estimated" ? " (est.)" : ""}`],
    ["Speed", fmt(m.tokensPerSecond, 1, " tok/s")],
    ["First token", fmt(m.ttftMs, 0, " ms")],
    ["Duration", fmt(m.durationMs, 0, " ms")],
    ["Finish", m.finishReason ?? "—"],
  ];
  if (m.error) rows.push(["Error", m.error]);
  return (
    <Tooltip.Root>
      <Tooltip.Trigger asChild>
        <button type="button" aria-label="Answer details" className="rounded p-0.5 text-muted hover:text-fg">
          <Info size={13} />
        </button>
      </Tooltip.Trigger>
      <Tooltip.Portal>
        <Tooltip.Content side="top" sideOffset={6} className="z-50 rounded-lg border border-border bg-panel p-3 text-xs shadow-xl" data-testid="answer-details">
          <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
            {rows.map(([k, v]) => (
              <div key={k} className="contents">
                <dt className="text-muted">{k}</dt>
                <dd className="font-medium tabular-nums">{v}</dd>
              </div>
            ))}
          </dl>
        </Tooltip.Content>
      </Tooltip.Portal>
    </Tooltip.Root>
  );
}

export const MessageItem = memo(function MessageItem({
  message,
  liveText,
  siblings,
  onStop,
  onRegenerate,
  onSelectSibling,
  canRegenerate,
  canChange,
  hasAnswer,
  authorColor,
}: {
  message: Message;
  liveText: string | undefined;
  siblings: Siblings | null;
  onStop: (message: Message) => void;
  onRegenerate: (message: Message) => void;
  onSelectSibling: (parentId: string, index: number) => void;
  canRegenerate: boolean;
  /** The caller may edit and delete it (its author, the session's owner, an admin). */
  canChange: boolean;
  /** A question that has an answer (an edit offers to re-run it). */
  hasAnswer: boolean;
  /** The author's chosen avatar colour, when known. */
  authorColor: string | null;
}) {
  const [editing, setEditing] = useState(false);
  const assistant = message.role === "assistant" || message.role === "agent";
  const streaming = message.status === "streaming";
  const text = streaming ? (liveText ?? message.content) : message.content;
  const time = new Date(message.createdAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return (
    <article
      className="group flex gap-3 px-1 py-2.5"
      data-testid="message"
      data-seq={message.seq}
      data-message-id={message.id}
      data-status={message.status}
      aria-label={`${message.author}${message.authorLabel ? ` (labelled “${message.authorLabel}” by the poster)` : ""}, ${message.role}`}
      id={`seq-${message.seq}`}
    >
      {assistant ? (
        <div className="mt-0.5 grid h-8 w-8 shrink-0 place-items-center rounded-full bg-accent text-accent-fg" aria-hidden>
          <Bot size={16} />
        </div>
      ) : message.authorId ? (
        <Avatar id={message.authorId} name={message.author} color={authorColor} className="mt-0.5" />
      ) : (
        <div className="mt-0.5 grid h-8 w-8 shrink-0 place-items-center rounded-full bg-subtle text-muted" aria-hidden>
          <User size={16} />
        </div>
      )}
      <div className="min-w-0 flex-1">
        <header className="flex flex-wrap items-center gap-x-2 gap-y-1 text-xs">
          <span className="text-sm font-semibold" data-testid="message-author">
            {message.author}
          </span>
          {message.authorLabel && (
            // The poster's own words, set apart from the verified name before it.
            <span
              data-testid="message-author-label"
              title="A label the poster chose; the name before it is who posted"
              className="rounded-full border border-dashed border-border px-1.5 py-px text-[11px] italic text-muted"
            >
              “{message.authorLabel}”
            </span>
          )}
          <time className="text-muted" dateTime={new Date(message.createdAt).toISOString()}>
            {time}
          </time>
          {message.visibility !== "public" && (
            <span className="rounded-full border border-border px-1.5 py-px text-[11px] text-muted">{message.visibility.replace("_", " ")}</span>
          )}
          {message.status !== "complete" && (
            <span data-testid="message-status" className={`rounded-full px-1.5 py-px text-[11px] font-medium ${statusStyle[message.status] ?? ""}`}>
              {message.status}
            </span>
          )}
          {assistant && <MetadataTooltip message={message} />}
          <EditHistory message={message} />
          {canChange && !streaming && !editing && <MessageMenu message={message} onEdit={() => setEditing(true)} />}
        </header>
        {editing ? (
          <MessageEditor message={message} hasAnswer={hasAnswer} onDone={() => setEditing(false)} />
        ) : (
          <div className="mt-1" data-testid="message-content">
            {text ? (
              <Markdown
                text={text}
                trailing={streaming ? <span className="ml-0.5 inline-block h-4 w-1.5 translate-y-0.5 animate-pulse bg-accent" aria-hidden /> : null}
              />
            ) : streaming ? (
              <span className="inline-flex gap-1 py-1.5 text-muted" aria-label="Thinking">
                <span className="typing-dot h-1.5 w-1.5 rounded-full bg-current" />
                <span className="typing-dot h-1.5 w-1.5 rounded-full bg-current" />
                <span className="typing-dot h-1.5 w-1.5 rounded-full bg-current" />
              </span>
            ) : (
              <span className="text-sm text-muted italic">(empty)</span>
            )}
          </div>
        )}
        {assistant && (streaming || canRegenerate || siblings) && (
          <div className="mt-1.5 flex items-center gap-1 text-xs text-muted">
            {siblings && siblings.count > 1 && (
              <span className="flex items-center" aria-label="Answer versions">
                <button
                  type="button"
                  aria-label="Previous answer"
                  disabled={siblings.index === 0}
                  onClick={() => onSelectSibling(siblings.parentId, siblings.index - 1)}
                  className="rounded p-1 hover:bg-subtle disabled:opacity-40"
                >
                  <ChevronLeft size={14} />
                </button>
                <span className="tabular-nums" data-testid="sibling-position">
                  {siblings.index + 1}/{siblings.count}
                </span>
                <button
                  type="button"
                  aria-label="Next answer"
                  disabled={siblings.index === siblings.count - 1}
                  onClick={() => onSelectSibling(siblings.parentId, siblings.index + 1)}
                  className="rounded p-1 hover:bg-subtle disabled:opacity-40"
                >
                  <ChevronRight size={14} />
                </button>
              </span>
            )}
            {streaming ? (
              <button
                type="button"
                onClick={() => onStop(message)}
                className="flex items-center gap-1 rounded-md border border-border px-2 py-1 font-medium text-fg hover:bg-subtle"
              >
                <Square size={11} className="fill-current" /> Stop
              </button>
            ) : (
              canRegenerate && (
                <button
                  type="button"
                  onClick={() => onRegenerate(message)}
                  className="flex items-center gap-1 rounded-md px-2 py-1 opacity-70 group-hover:opacity-100 hover:bg-subtle focus:opacity-100"
                >
                  <RotateCcw size={12} /> Regenerate
                </button>
              )
            )}
          </div>
        )}
      </div>
    </article>
  );
});
