"use client";
// The composer: text, agent picker (none = a plain post), visibility, send,
// stop. Enter sends, Shift+Enter is a new line, Escape stops the running
// answer. While the socket is down, messages go to the session's outbox and
// are sent in order after reconnecting.
import * as Select from "@radix-ui/react-select";
import { Check, ChevronDown, SendHorizontal, Square } from "lucide-react";
import { useEffect, useRef, useState, useSyncExternalStore, type FormEvent } from "react";
import type { RouterOutputs } from "@parley/client";
import { useConnection } from "../../_components/connection-badge";
import { isNetworkError, parley, parleyBrowser } from "../../_components/parley";
import { notifyError } from "../../_components/toasts";
import { Button } from "../../_components/ui";
import { newClientKey, outboxFor, type OutboxItem, type Visibility } from "./outbox";
import type { TypingMark } from "./presence";

type Agent = RouterOutputs["agent"]["list"][number];

const NO_AGENT = "none";
const TYPING_REFRESH_MS = 1_500;

/** Send one message with its idempotency key: a retry after a lost acknowledgement returns the stored one. */
async function deliver(item: OutboxItem) {
  const { api } = parley();
  const clientKey = item.key;
  if (item.agentId) {
    // No `author`: the server names the poster from its credentials.
    // The answer gets the question's visibility (a private question, a private answer).
    await api.chat.send.mutate({ sessionId: item.sessionId, content: item.content, agentId: item.agentId, visibility: item.visibility, clientKey });
  } else {
    await api.message.post.mutate({
      sessionId: item.sessionId,
      content: item.content,
      visibility: item.visibility,
      clientKey,
    });
  }
}

function Picker<T extends string>({
  label,
  value,
  onChange,
  options,
  disabled,
}: {
  label: string;
  value: T;
  onChange: (v: T) => void;
  options: { value: T; label: string; hint?: string }[];
  disabled?: boolean;
}) {
  return (
    <Select.Root value={value} onValueChange={(v) => onChange(v as T)} disabled={disabled}>
      <Select.Trigger
        aria-label={label}
        className="inline-flex h-8 max-w-52 items-center gap-1.5 rounded-lg border border-border bg-panel px-2.5 text-xs font-medium text-fg hover:bg-subtle disabled:opacity-50"
      >
        <span className="text-muted">{label}:</span>
        <span className="truncate">
          <Select.Value />
        </span>
        <Select.Icon>
          <ChevronDown size={13} className="text-muted" />
        </Select.Icon>
      </Select.Trigger>
      <Select.Portal>
        <Select.Content position="popper" side="top" sideOffset={6} className="z-50 min-w-56 overflow-hidden rounded-xl border border-border bg-panel p-1 shadow-xl">
          <Select.Viewport>
            {options.map((o) => (
              <Select.Item
                key={o.value}
                value={o.value}
                className="relative flex cursor-default flex-col rounded-md py-1.5 pr-2 pl-7 text-sm outline-none select-none data-[highlighted]:bg-subtle"
              >
                <Select.ItemIndicator className="absolute top-2 left-2">
                  <Check size={14} />
                </Select.ItemIndicator>
                <Select.ItemText>{o.label}</Select.ItemText>
                {o.hint && <span className="text-xs text-muted">{o.hint}</span>}
              </Select.Item>
            ))}
          </Select.Viewport>
        </Select.Content>
      </Select.Portal>
    </Select.Root>
  );
}

export function Composer({
  sessionId,
  agents,
  activeRunId,
  onStop,
  typing,
  onSent,
}: {
  sessionId: string;
  agents: Agent[];
  activeRunId: string | null;
  onStop: (runId: string) => void;
  typing: TypingMark[];
  onSent: () => void;
}) {
  const [draft, setDraft] = useState("");
  const [agentId, setAgentId] = useState<string>(NO_AGENT);
  const [visibility, setVisibility] = useState<Visibility>("public");
  const connection = useConnection();
  const outbox = outboxFor(sessionId);
  const queuedCount = useSyncExternalStore(outbox.subscribe, () => outbox.size, () => 0);
  const lastTyping = useRef(0);
  const [selfId, setSelfId] = useState<string | null>(null);

  // Send what is queued once the socket is back (and retry every 3 s while anything is left).
  useEffect(() => {
    if (connection.kind !== "connected" || queuedCount === 0) return;
    const flush = () =>
      void outbox.flush(deliver, isNetworkError, (item, error) => notifyError(`Not sent: “${item.content.slice(0, 40)}”`, error));
    flush();
    const timer = setInterval(flush, 3_000);
    return () => clearInterval(timer);
  }, [connection.kind, queuedCount, outbox]);

  const sendTyping = (value: boolean) => {
    if (connection.kind !== "connected") return;
    parleyBrowser()
      .wsApi.presence.typing.mutate({ sessionId, typing: value })
      .then((r) => setSelfId(r.principalId))
      .catch(() => undefined);
  };

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    const content = draft.trim();
    if (!content) return;
    setDraft("");
    onSent();
    if (lastTyping.current) {
      lastTyping.current = 0;
      sendTyping(false);
    }
    const item = { sessionId, content, agentId: agentId === NO_AGENT ? null : agentId, visibility };
    // Keep order: anything queued goes first.
    if (connection.kind !== "connected" || outbox.size > 0) {
      outbox.enqueue(item);
      return;
    }
    // One key for this message whichever way it goes: if the send fails after
    // the server stored it, the queued retry returns that message.
    const key = newClientKey();
    try {
      await deliver({ ...item, key, state: "sending", queuedAt: Date.now() });
    } catch (error) {
      if (isNetworkError(error)) outbox.enqueue(item, key);
      else {
        setDraft((d) => d || content);
        notifyError("Message not sent", error);
      }
    }
  };

  const others = typing.filter((t) => t.principalId !== selfId);
  const offline = connection.kind === "offline" || connection.kind === "reconnecting";
  const agentOptions = [
    { value: NO_AGENT, label: "No agent", hint: "Post without an answer" },
    ...agents.map((a) => ({ value: a.id, label: a.name, hint: `${a.provider} · ${a.model}` })),
  ];

  return (
    <form onSubmit={(e) => void submit(e)} className="border-t border-border pt-2 pb-4">
      <div className="flex h-5 items-center text-xs text-muted" aria-live="polite" data-testid="typing">
        {others.length > 0 && (
          <span className="flex items-center gap-1.5">
            <span className="inline-flex gap-0.5">
              <span className="typing-dot h-1 w-1 rounded-full bg-current" />
              <span className="typing-dot h-1 w-1 rounded-full bg-current" />
              <span className="typing-dot h-1 w-1 rounded-full bg-current" />
            </span>
            {others.map((t) => t.name).join(", ")} {others.length === 1 ? "is" : "are"} typing…
          </span>
        )}
        {offline && (
          <span className="ml-auto text-amber-700 dark:text-amber-300">
            {queuedCount > 0 ? `${queuedCount} queued · ` : ""}offline, messages will be sent on reconnect
          </span>
        )}
      </div>
      <div className="rounded-2xl border border-border bg-panel shadow-sm focus-within:border-accent focus-within:ring-1 focus-within:ring-accent">
        <textarea
          aria-label="Message"
          aria-keyshortcuts="Enter Escape"
          placeholder={agentId === NO_AGENT ? "Write a message… (Enter to send, Shift+Enter for a new line)" : "Ask the agent… (Esc stops an answer)"}
          autoFocus
          rows={2}
          value={draft}
          onChange={(e) => {
            setDraft(e.target.value);
            const now = Date.now();
            if (e.target.value && now - lastTyping.current > TYPING_REFRESH_MS) {
              lastTyping.current = now;
              sendTyping(true);
            }
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
              e.preventDefault();
              void submit();
            } else if (e.key === "Escape" && activeRunId) {
              e.preventDefault();
              onStop(activeRunId);
            }
          }}
          className="block max-h-48 min-h-14 w-full resize-y rounded-t-2xl bg-transparent px-3.5 pt-3 text-[0.9375rem] outline-none placeholder:text-muted focus-visible:outline-none"
        />
        <div className="flex flex-wrap items-center gap-2 px-2.5 pb-2.5">
          <Picker label="Agent" value={agentId} onChange={setAgentId} options={agentOptions} />
          <Picker<Visibility>
            label="Visibility"
            value={visibility}
            onChange={setVisibility}
            options={[
              { value: "public", label: "Public" },
              { value: "private", label: "Private", hint: agentId === NO_AGENT ? "You and the session's owner" : "Ask privately: the answer is private too" },
              { value: "agent_only", label: "Agents only" },
            ]}
          />
          <div className="ml-auto flex items-center gap-2">
            {activeRunId && (
              <Button size="sm" onClick={() => onStop(activeRunId)} aria-keyshortcuts="Escape">
                <Square size={11} className="fill-current" /> Stop answer
              </Button>
            )}
            <Button type="submit" size="sm" variant="primary" disabled={!draft.trim()} aria-label={offline ? "Queue message" : "Send"}>
              <SendHorizontal size={14} /> {offline ? "Queue" : "Send"}
            </Button>
          </div>
        </div>
      </div>
    </form>
  );
}
