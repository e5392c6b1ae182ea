"use client";
// The global connection badge: connected / reconnecting (next retry) / offline,
// from the tRPC WebSocket client's connection state.
import * as Tooltip from "@radix-ui/react-tooltip";
import { useEffect, useState, useSyncExternalStore } from "react";
import { connectionStore, type ConnectionStatus } from "./parley";

export function useConnection(): ConnectionStatus {
  return useSyncExternalStore(connectionStore.subscribe, connectionStore.get, connectionStore.getServer);
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
