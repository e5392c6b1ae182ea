"use client";
// The global connection badge: connected / reconnecting (next retry) / offline,
// from the client's connection state (useConnectionState of the client package).
import * as Tooltip from "@radix-ui/react-tooltip";
import { useConnectionState } from "@parley/client/react";
import { useEffect, useState, useSyncExternalStore } from "react";

export type ConnectionStatus =
  | { kind: "connecting" }
  | { kind: "connected" }
  | { kind: "reconnecting" | "offline"; attempt: number; nextRetryAt: number | null; error: string | null };

/** After this many failed attempts (several seconds), "reconnecting" becomes "offline" (still retrying). */
const OFFLINE_AFTER_ATTEMPTS = 5;

const subscribeOnline = (onChange: () => void) => {
  window.addEventListener("online", onChange);
  window.addEventListener("offline", onChange);
  return () => {
    window.removeEventListener("online", onChange);
    window.removeEventListener("offline", onChange);
  };
};

export function useConnection(): ConnectionStatus {
  const state = useConnectionState();
  const online = useSyncExternalStore(subscribeOnline, () => navigator.onLine, () => true);
  switch (state.state) {
    case "open":
      return { kind: "connected" };
    case "reconnecting":
    case "refused": {
      const error = state.state === "refused" ? state.message : state.error;
      const offline = !online || state.attempt >= OFFLINE_AFTER_ATTEMPTS;
      return { kind: offline ? "offline" : "reconnecting", attempt: state.attempt, nextRetryAt: state.nextRetryAt, error };
    }
    default:
      return { kind: "connecting" };
  }
}

function useNow(active: boolean) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function ConnectionBadge() {
  const status = useConnection();
  const retrying = status.kind === "reconnecting" || status.kind === "offline";
  const now = useNow(retrying);
  let label = "Connecting…";
  let detail = "Opening the WebSocket.";
  let dot = "bg-amber-400";
  if (status.kind === "connected") {
    label = "Connected";
    detail = "Live over WebSocket. Streams resume where they stopped after a reconnect.";
    dot = "bg-emerald-500";
  } else if (retrying) {
    const seconds = status.nextRetryAt ? Math.max(0, Math.ceil((status.nextRetryAt - now) / 1000)) : 0;
    const next = seconds > 0 ? `retry in ${seconds}s` : "retrying…";
    label = status.kind === "offline" ? `Offline · ${next}` : `Reconnecting · ${next}`;
    detail = `Attempt ${status.attempt}.${status.error ? ` Last error: ${status.error}.` : ""} Messages you write now are queued and sent on reconnect.`;
    dot = status.kind === "offline" ? "bg-red-500" : "bg-amber-400 animate-pulse";
  }
  return (
    <Tooltip.Root>
      <Tooltip.Trigger asChild>
        <span
          data-testid="connection-badge"
          data-state={status.kind}
          role="status"
          aria-live="polite"
          tabIndex={0}
          className="inline-flex items-center gap-2 rounded-full border border-border bg-panel px-3 py-1 text-xs font-medium whitespace-nowrap text-fg"
        >
          <span className={`h-2 w-2 rounded-full ${dot}`} aria-hidden />
          {label}
        </span>
      </Tooltip.Trigger>
      <Tooltip.Portal>
        <Tooltip.Content sideOffset={6} className="z-50 max-w-xs rounded-lg bg-fg px-3 py-2 text-xs text-bg shadow-lg">
          {detail}
          <Tooltip.Arrow className="fill-fg" />
        </Tooltip.Content>
      </Tooltip.Portal>
    </Tooltip.Root>
  );
}
