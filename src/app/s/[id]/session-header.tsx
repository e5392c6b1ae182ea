"use client";
// The session's header: back to the list, its title, whether it is live, and who is here.
import { ArrowLeft } from "lucide-react";
import Link from "next/link";
import { Avatar } from "../../_components/avatar";
import { ExportMenu } from "../../_components/session-transfer";
import type { PresenceMember } from "./presence";
import type { Session } from "./session-stream";
import { ShareDialog } from "./share-dialog";

export function SessionHeader(props: {
  session: Session | null;
  live: boolean;
  reconnecting: boolean;
  loadedCount: number;
  members: readonly PresenceMember[];
  /** The caller's principal id (null until known), and whether it may manage the session's members. */
  meId: string | null;
  manage: boolean;
}) {
  const { session, live, reconnecting, loadedCount, members, meId, manage } = props;
  return (
    <div className="flex items-center gap-3 border-b border-border py-3">
      <Link href="/" aria-label="All sessions" className="rounded-md p-1.5 text-muted hover:bg-subtle hover:text-fg">
        <ArrowLeft size={18} />
      </Link>
      <div className="min-w-0 flex-1">
        <h1 className="truncate text-lg font-semibold tracking-tight">{session?.title ?? "…"}</h1>
        <p className="text-xs text-muted">
          <span data-testid="live-state">{live ? "live" : reconnecting ? "reconnecting…" : "connecting…"}</span>
          {session && ` · ${loadedCount} loaded`}
          {session?.archivedAt && " · archived"}
        </p>
      </div>
      <div className="flex items-center -space-x-2" aria-label="People here" data-testid="presence">
        {members.slice(0, 6).map((m) => (
          <Avatar key={m.principalId} id={m.principalId} name={m.name} color={m.color} className="border-2 border-panel" />
        ))}
        {members.length > 6 && (
          <span className="grid h-8 w-8 place-items-center rounded-full border-2 border-panel bg-subtle text-xs">+{members.length - 6}</span>
        )}
      </div>
      {session && <ExportMenu sessionId={session.id} />}
      {session && <ShareDialog session={session} meId={meId} manage={manage} />}
    </div>
  );
}
