"use client";
// What one may do to a posted message: edit it (in place; a question that has
// an answer then offers to re-run it), delete it, and read its edit history.
import * as DropdownMenu from "@radix-ui/react-dropdown-menu";
import { History, MoreHorizontal, Pencil, RotateCcw, Trash2 } from "lucide-react";
import { useState } from "react";
import { editsOf } from "../../../shared/schemas";
import { parley } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import type { Message } from "./timeline-store";

const menuItem = "flex cursor-default items-center gap-2 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-subtle";

/** The ⋯ menu of a message the caller may change. */
export function MessageMenu({ message, onEdit }: { message: Message; onEdit: () => void }) {
  const remove = async () => {
    if (!window.confirm("Delete this message for everyone?")) return;
    try {
      await parley().api.message.delete.mutate({ id: message.id });
    } catch (error) {
      notifyError("Could not delete the message", error);
    }
  };
  return (
    <DropdownMenu.Root>
      <DropdownMenu.Trigger asChild>
        <button type="button" aria-label="Message actions" className="rounded p-0.5 text-muted opacity-60 group-hover:opacity-100 hover:text-fg focus:opacity-100">
          <MoreHorizontal size={14} />
        </button>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content align="end" sideOffset={4} className="z-50 min-w-36 rounded-lg border border-border bg-panel p-1 shadow-xl">
          <DropdownMenu.Item className={menuItem} onSelect={onEdit}>
            <Pencil size={13} /> Edit
          </DropdownMenu.Item>
          <DropdownMenu.Item className={`${menuItem} text-red-600 dark:text-red-400`} onSelect={() => void remove()}>
            <Trash2 size={13} /> Delete
          </DropdownMenu.Item>
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}

/** "edited" on a message that was: opens its earlier texts, oldest first. */
export function EditHistory({ message }: { message: Message }) {
  const edits = editsOf(message.metadata);
  if (edits.length === 0) return null;
  return (
    <DropdownMenu.Root>
      <DropdownMenu.Trigger asChild>
        <button type="button" data-testid="message-edited" className="flex items-center gap-1 rounded-full border border-border px-1.5 py-px text-[11px] text-muted hover:text-fg">
          <History size={11} /> edited
        </button>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content align="start" sideOffset={4} data-testid="edit-history" className="z-50 max-h-80 w-80 overflow-y-auto rounded-lg border border-border bg-panel p-3 text-xs shadow-xl">
          <p className="mb-2 font-semibold">Edit history</p>
          <ol className="space-y-2">
            {edits.map((edit, i) => (
              <li key={i} className="rounded border border-border p-2">
                <p className="mb-1 text-muted">
                  Before {edit.editorName}&apos;s edit · {new Date(edit.editedAt).toLocaleString()}
                </p>
                <p className="whitespace-pre-wrap">{edit.content}</p>
              </li>
            ))}
            <li className="rounded border border-accent/50 p-2">
              <p className="mb-1 text-muted">Now</p>
              <p className="whitespace-pre-wrap">{message.content}</p>
            </li>
          </ol>
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}

/** Editing a message in place; after saving a question that has an answer, offers to re-run it. */
export function MessageEditor({ message, hasAnswer, onDone }: { message: Message; hasAnswer: boolean; onDone: () => void }) {
  const [text, setText] = useState(message.content);
  const [saving, setSaving] = useState(false);
  const [offerRerun, setOfferRerun] = useState(false);
  const save = async () => {
    setSaving(true);
    try {
      await parley().api.message.update.mutate({ id: message.id, content: text });
      if (hasAnswer && text !== message.content) setOfferRerun(true);
      else onDone();
    } catch (error) {
      notifyError("Could not save the edit", error);
    } finally {
      setSaving(false);
    }
  };
  const rerun = async () => {
    try {
      await parley().api.chat.regenerate.mutate({ messageId: message.id });
    } catch (error) {
      notifyError("Could not re-run the answer", error);
    }
    onDone();
  };
  if (offerRerun) {
    return (
      <div role="status" className="mt-1 flex flex-wrap items-center gap-2 rounded-lg border border-border bg-subtle/60 px-3 py-2 text-sm">
        The question changed. Re-run its answer?
        <button type="button" onClick={() => void rerun()} className="flex items-center gap-1 rounded-md bg-accent px-2 py-1 text-xs font-medium text-accent-fg">
          <RotateCcw size={12} /> Re-run answer
        </button>
        <button type="button" onClick={onDone} className="rounded-md px-2 py-1 text-xs hover:bg-subtle">
          Keep the answer
        </button>
      </div>
    );
  }
  return (
    <form
      className="mt-1 space-y-2"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <textarea
        aria-label="Edit message"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Escape") onDone();
        }}
        rows={Math.min(10, Math.max(2, text.split("\n").length))}
        className="w-full rounded-lg border border-border bg-panel px-3 py-2 text-sm focus:border-accent focus:outline-none"
        autoFocus
      />
      <div className="flex gap-2">
        <button type="submit" disabled={saving || !text.trim()} className="rounded-md bg-accent px-3 py-1 text-xs font-medium text-accent-fg disabled:opacity-50">
          Save
        </button>
        <button type="button" onClick={onDone} className="rounded-md px-3 py-1 text-xs hover:bg-subtle">
          Cancel
        </button>
      </div>
    </form>
  );
}
